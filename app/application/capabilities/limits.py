"""The bounds the built-in capability handlers enforce, set once per worker process."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.allow_list import allow_list_keys

MIB = 1_048_576


@dataclass(frozen=True, slots=True)
class CapabilityLimits:
    """Sizes and counts a task's payload and outputs must stay within.

    `allowed_hosts` are the only targets ExternalIntegration may call, as allow-list
    entries (see app.domain.allow_list): "api.example.com" allows https on port 443
    only, "http://127.0.0.1:8080" plain http on that port. They are kept as keys
    (`allow_list_keys`), and an entry that is none of the forms raises ValueError.
    Empty refuses every call.
    """

    # Text outputs up to this size (UTF-8 bytes) are stored in Postgres; larger ones
    # go to the artifact store and the result keeps a reference.
    inline_max_bytes: int = 65_536
    vision_max_image_bytes: int = 4 * MIB
    # Whether an image may be given by URL. The provider fetches it: a self-hosted one
    # fetches from inside your network, which a task author should not be able to aim.
    vision_image_urls: bool = True
    allowed_hosts: frozenset[str] = frozenset()
    integration_timeout_seconds: float = 30.0
    integration_max_response_bytes: int = MIB
    classification_max_labels: int = 100
    classification_max_label_length: int = 200
    embedding_max_candidates: int = 2048
    rule_max_count: int = 1000
    rule_max_depth: int = 16

    def __post_init__(self) -> None:
        # Frozen: the keys replace the entries once, before anyone reads them.
        object.__setattr__(self, "allowed_hosts", allow_list_keys(self.allowed_hosts))

"""Behind a reverse proxy every client arrives from the proxy's address. With the proxy
in API_TRUSTED_PROXIES, the per-address limits count each client its X-Forwarded-For
names; without it the header is ignored, so nobody can pick the address they are
counted under."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import assert_problem

LIMITS = {
    "api_failed_auth_per_second": 0.1,
    "api_failed_auth_burst": 3,
    "api_anonymous_per_second": 0.1,
    "api_anonymous_burst": 3,
    "api_refusal_hold_seconds": 0,
}


def behind_the_proxy(client: str) -> dict[str, str]:
    """Headers as a proxy adds them; the test's connection comes from 127.0.0.1."""
    return {"X-Forwarded-For": client}


async def guesses(http: httpx.AsyncClient, client: str, n: int) -> list[int]:
    headers = {**behind_the_proxy(client), "Authorization": "Bearer atk_guess"}
    return [(await http.get("/api/v1/tasks", headers=headers)).status_code for _ in range(n)]


async def health_checks(http: httpx.AsyncClient, client: str, n: int) -> list[int]:
    return [
        (await http.get("/health", headers=behind_the_proxy(client))).status_code for _ in range(n)
    ]


class TestBehindATrustedProxy:
    @pytest.fixture
    def api_overrides(self) -> dict[str, Any]:
        return {**LIMITS, "api_trusted_proxies": "127.0.0.1"}

    async def test_each_client_has_its_own_failed_authentication_brake(
        self, anonymous: httpx.AsyncClient
    ) -> None:
        assert await guesses(anonymous, "203.0.113.7", 4) == [401, 401, 401, 429]
        problem = assert_problem(
            (
                await anonymous.get(
                    "/api/v1/tasks",
                    headers={
                        **behind_the_proxy("203.0.113.7"),
                        "Authorization": "Bearer atk_guess",
                    },
                )
            ),
            429,
        )
        assert "failed authentications" in problem["detail"]
        # Another client behind the same proxy is not braked for the first one's guesses.
        assert await guesses(anonymous, "198.51.100.9", 3) == [401, 401, 401]

    async def test_each_client_has_its_own_anonymous_budget(
        self, anonymous: httpx.AsyncClient
    ) -> None:
        assert await health_checks(anonymous, "203.0.113.7", 4) == [200, 200, 200, 429]
        assert await health_checks(anonymous, "2001:db8::7", 3) == [200, 200, 200]

    async def test_what_the_client_prepends_is_not_believed(
        self, anonymous: httpx.AsyncClient
    ) -> None:
        assert await health_checks(anonymous, "203.0.113.7", 3) == [200, 200, 200]
        # The braked client writes a fresh address left of the one the proxy appended.
        assert await health_checks(anonymous, "192.0.2.1, 203.0.113.7", 1) == [429]


class TestWithoutTrustedProxies:
    @pytest.fixture
    def api_overrides(self) -> dict[str, Any]:
        return LIMITS

    async def test_the_header_is_ignored_and_the_peer_is_braked(
        self, anonymous: httpx.AsyncClient
    ) -> None:
        statuses = await guesses(anonymous, "203.0.113.7", 4)
        assert statuses == [401, 401, 401, 429]
        # A different X-Forwarded-For does not buy a fresh budget: it is the same peer.
        assert await guesses(anonymous, "198.51.100.9", 1) == [429]

    async def test_a_forged_header_does_not_buy_a_fresh_anonymous_budget(
        self, anonymous: httpx.AsyncClient
    ) -> None:
        statuses = [
            (await anonymous.get("/health", headers=behind_the_proxy(f"192.0.2.{n}"))).status_code
            for n in range(4)
        ]
        # The fixture's start-up probe from 127.0.0.1 may have spent one of the burst.
        assert statuses[-1] == 429

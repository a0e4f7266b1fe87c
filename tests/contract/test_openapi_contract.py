"""The API does what its OpenAPI document says: Schemathesis, every check, with a key.

Examples, coverage, fuzzing and stateful phases run against the served document.
CONTRACT_MAX_EXAMPLES sets the cases per operation (the CI run is short; `make
contract-long` runs a few thousand cases). See docs/contract.md.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.contract.conftest import ContractApi
from tests.contract.hooks import REACHED

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "10"))
SEED = os.environ.get("CONTRACT_SEED")
# The tenant stream never ends (it follows the tenant's events until the client
# leaves) and Schemathesis reads a response to its end: tested in tests/api instead.
EXCLUDED_OPERATIONS = ("get_tenant_events",)
# Reached with real ids, by following the document's links from a created task.
MUST_REACH = {
    "POST /api/v1/tasks/{task_id}/cancel 200",
    "POST /api/v1/tasks/{task_id}/requeue 200",
    "GET /api/v1/tasks/{task_id}/artifacts/{artifact_id} 200",
}


def schemathesis_command(api: ContractApi, report_dir: Path) -> list[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--header",
        f"Authorization: Bearer {api.key}",
        "--request-timeout",
        "20",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        "--output-sanitize",
        "true",
    ]
    for operation_id in EXCLUDED_OPERATIONS:
        command += ["--exclude-operation-id", operation_id]
    if SEED:
        command += ["--seed", SEED]
    return command


@pytest.mark.timeout(int(os.environ.get("CONTRACT_TIMEOUT", "600")))
async def test_the_api_does_what_its_openapi_document_says(
    contract_api: ContractApi, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        *schemathesis_command(contract_api, tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
        },
        # Its crash cache (.schemathesis/) stays with this run, out of the checkout.
        cwd=tmp_path,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    print(text)
    assert process.returncode == 0, text[-20000:]
    reached = set((tmp_path / REACHED).read_text().splitlines())
    assert reached >= MUST_REACH, MUST_REACH - reached

"""Schemathesis against /openapi.json of a real server: no 5xx, no response contradicting the schema."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_the_api_keeps_its_schema_under_generated_requests(serve) -> None:
    server = serve(ROOT / "rules.example.yaml")
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    result = subprocess.run(
        [st, "run", f"{server.base}/openapi.json", "--header", f"Authorization: Bearer {server.key}",
         "--checks", CHECKS, "--max-examples", "15", "--generation-deterministic", "--request-timeout", "10",
         "--phases", "examples,coverage,fuzzing", "--no-color"],
        capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

"""The light SDK distribution (`sdk/`): built into a wheel and installed alone, it traces a call and exports
it over OTLP/HTTP without the daemon's code or its heavy dependencies (the test blocks their import), and an
app using it alone traces an OpenAI call into a running daemon."""

from __future__ import annotations

import email
import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.support.daemon import get_json, running_daemon, wait_until
from tests.support.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy", "numpy", "sentencepiece", "aiohttp", "grpc", "psycopg", "pydantic", "jinja2",
         "click", "yaml", "prometheus_client", "kafka", "azure")  # fmt: skip
SDK_FILES = {
    "watchkeeper/__init__.py",
    "watchkeeper/core/__init__.py",
    "watchkeeper/core/identifiers.py",
    "watchkeeper/core/kafka_security.py",
    "watchkeeper/core/plugins.py",
    "watchkeeper/core/records.py",
    "watchkeeper/core/semconv.py",
    "watchkeeper/collector/__init__.py",
}

# Runs in a fresh interpreter without site processing: only the wheel's files and the third-party packages
# are importable, never the daemon's source tree; the heavy packages raise ImportError if anything asks.
APP = r"""
import sys, threading, http.server, json
target, site_packages, heavy = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
sys.path[:0] = [target]
sys.path.append(site_packages)

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in heavy:
            raise ImportError(f"the SDK must not import {name}")
        return None
sys.meta_path.insert(0, Block())

received = []
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()

from watchkeeper import collector
provider = collector.instrument(
    service_name="sdk-only-app", exporters=("otlp",), otlp_endpoint=f"http://127.0.0.1:{server.server_port}"
)
with collector.trace_call(provider="local", model="llama-3-8b") as call:
    call.set_output("Bonjour ! Comment puis-je vous aider ?")
provider.force_flush()
try:
    import watchkeeper.detectors  # noqa: F401
    daemon_code = True
except ImportError:
    daemon_code = False
print(json.dumps({
    "posts": [p for p, _ in received],
    "model_in_body": any(b"llama-3-8b" in body for _, body in received),
    "service_in_body": any(b"sdk-only-app" in body for _, body in received),
    "daemon_code": daemon_code,
    "watchkeeper_from": __import__("watchkeeper").__file__,
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdk-wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO / "sdk"),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (path,) = out.glob("watchkeeper_sdk-*.whl")
    return path


def test_the_wheel_holds_the_sdk_and_needs_none_of_the_daemons_dependencies(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if not n.startswith("watchkeeper_sdk-")]
        meta = email.message_from_bytes(z.read(next(n for n in z.namelist() if n.endswith("/METADATA"))))
        entry_points = z.read(next(n for n in z.namelist() if n.endswith("/entry_points.txt"))).decode()
    sdk = {n for n in names if n.startswith("watchkeeper/collector/sdk/")}
    assert (
        "watchkeeper/collector/sdk/instrument.py" in sdk
        and "watchkeeper/collector/sdk/exporters/otlp.py" in sdk
    )
    assert set(names) - sdk == SDK_FILES, sorted(set(names) - sdk - SDK_FILES)
    requires = " ".join(meta.get_all("Requires-Dist") or []).lower()
    heavy_dists = ("scikit-learn", "scipy", "numpy", "sentencepiece", "aiohttp", "grpcio", "psycopg",
                   "pydantic")  # fmt: skip
    for heavy in heavy_dists:
        assert heavy not in requires, heavy
    assert meta["Name"] == "watchkeeper-sdk"
    for name in ("otlp", "kafka", "azure_monitor"):
        assert f"{name} = watchkeeper.collector.sdk.exporters" in entry_points


def test_installed_alone_it_traces_and_exports_a_call(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    run = subprocess.run(
        [sys.executable, "-S", "-c", APP, str(target), sysconfig.get_paths()["purelib"], ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "OTEL_SDK_DISABLED": "false"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["watchkeeper_from"].startswith(str(target))
    assert result["daemon_code"] is False
    assert "/v1/traces" in result["posts"]
    assert result["model_in_body"] and result["service_in_body"]


# An app with the SDK and the openai client in a fresh virtual environment: one chat call to an
# OpenAI-compatible server, traced into a running daemon's intake.
OPENAI_APP = r"""
import sys
intake, base_url = sys.argv[1:3]
from watchkeeper import collector
provider = collector.instrument(service_name="sdk-only-openai", otlp_endpoint=intake, capture_content=True)
import openai
client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
answer = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Where is my parcel?"}]
)
provider.force_flush()
print(answer.choices[0].message.content)
print("LOADED", ",".join(sorted({m.split(".")[0] for m in sys.modules})))
"""
DAEMON_ONLY = ("scikit-learn", "scipy", "numpy", "sentencepiece", "aiohttp", "grpcio", "psycopg",
               "psycopg-pool", "jinja2", "click", "pyyaml", "prometheus-client", "kafka-python",
               "azure-monitor-opentelemetry")  # fmt: skip


@pytest.mark.slow
def test_a_fresh_venv_with_the_sdk_traces_an_openai_call_into_a_running_daemon(
    wheel: Path, tmp_path: Path
) -> None:
    """What `pip install watchkeeper-sdk[openai]` pulls into a fresh venv, and that the app works there."""
    venv = tmp_path / "app-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", f"{wheel}[openai]"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0 and "No matching distribution" in install.stdout + install.stderr:
        pytest.skip(f"the package index is unreachable: {install.stderr[-300:]}")
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "watchkeeper-sdk" in installed and "opentelemetry-sdk" in installed and "openai" in installed
    assert not installed & set(DAEMON_ONLY), sorted(installed & set(DAEMON_ONLY))
    assert "watchkeeper" not in installed
    with (
        running_daemon(tmp_path / "state", intake={"grpc_enabled": False}) as daemon,
        FakeOpenAI(reply_text="Your parcel left our warehouse today.") as openai_server,
    ):
        run = subprocess.run(
            [str(python), "-c", OPENAI_APP, daemon.intake_url, openai_server.base_url],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "parcel left our warehouse" in run.stdout
        loaded = set(run.stdout.split("LOADED ", 1)[1].split()[0].split(","))
        assert not loaded & {"sklearn", "scipy", "numpy", "sentencepiece", "grpc", "psycopg", "kafka"}, loaded
        calls = wait_until(
            lambda: get_json(f"{daemon.web_url}/api/v1/calls?app=sdk-only-openai") or None,
            timeout_s=120,
            what="the SDK-only app's call in the daemon",
        )
    assert calls[0]["model"].startswith("gpt-4o-mini")

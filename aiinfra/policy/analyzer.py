"""Run a policy pack as the Pulumi engine does and speak its analyzer gRPC protocol.

The engine starts a Python pack through the `pulumi-analyzer-policy-python` plugin, which runs
`python -u -m pulumi.policy <engine-address> .` in the pack directory with PULUMI_PROJECT,
PULUMI_STACK, PULUMI_ORGANIZATION, PULUMI_DRY_RUN and PULUMI_CONFIG set. The pack's `PolicyPack`
serves the Analyzer service on 127.0.0.1 and prints the port on stdout. The engine then calls
Handshake (the Python SDK answers UNIMPLEMENTED, which the engine tolerates), ConfigureStack,
GetAnalyzerInfo, GetPluginInfo and Configure (the reconciled policy config); for every resource
Remediate (first pass) and Analyze with its inputs; finally AnalyzeStack with every resource's
outputs, parent, dependencies and property dependencies.

The engine address is only passed on: `pulumi.policy` never dials it (with no engine configured,
`pulumi.log` writes to stderr), so no Engine service is needed here.

Analyze calls are independent, so a large stack is spread over several copies of the pack (the
SDK evaluates every policy in Python under one GIL per process).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from aiinfra.core.errors import InputError, Problem
from aiinfra.interrupts import forget_child, start_child
from aiinfra.plan.engine import Recorded

ENGINE_ADDRESS = "127.0.0.1:0"
"""Handed to the pack as the engine's address, as the engine does; the Python SDK never dials it."""
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
MAX_MESSAGE_BYTES = 400 * 1024 * 1024
"""The SDK's own limit (a stack's AnalyzeStack request grows with its resources)."""
CALLS_IN_FLIGHT = 4
"""Requests kept in flight per process, so a pack never waits for the next one. Since the pack decodes a
request once (policies/servicer.py) a call costs the pack less than the round trip: on prod (453 resources,
2 cores) 4 in flight took 809 ms a round on one process against 1022 ms with 2; 8 gained nothing more."""
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
LEVELS = {value: name.lower() for name, value in analyzer_pb2.EnforcementLevel.items()}
SEVERITIES = {
    value: name.removeprefix("POLICY_SEVERITY_").lower() for name, value in analyzer_pb2.PolicySeverity.items()
}


@dataclass(frozen=True)
class Diagnostic:
    """One policy violation as the analyzer reported it."""

    policy_pack: str
    policy_name: str
    urn: str | None
    enforcement_level: str
    severity: str | None
    description: str
    message: str


@dataclass(frozen=True)
class StackContext:
    """What the engine tells an analyzer about the stack being previewed."""

    project: str
    stack: str
    config: Mapping[str, str]
    secret_keys: Iterable[str] = ()
    organization: str = "organization"


def read_manifest(pack_dir: Path) -> dict[str, Any]:
    """PulumiPolicy.yaml of a Python pack, or an InputError saying what is wrong with `pack_dir`."""
    manifest = pack_dir / "PulumiPolicy.yaml"
    if not manifest.is_file():
        raise InputError(Problem(f"--policy-pack {pack_dir}", "not a policy pack: it has no PulumiPolicy.yaml"))
    data = yaml.safe_load(manifest.read_text()) or {}
    runtime = data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise InputError(Problem(f"{manifest}: runtime", f"{runtime_name!r} — aiinfra runs Python policy packs only"))
    return data


class _AnalyzerProcess:
    """One running copy of the pack: the subprocess, its stdout/stderr readers and a gRPC stub."""

    def __init__(self, pack_dir: Path, env: Mapping[str, str]):
        self.pack_dir = pack_dir
        self.process = start_child(
            [sys.executable, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."],
            cwd=pack_dir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.output: collections.deque[str] = collections.deque(maxlen=40)
        self._port: Queue[str] = Queue(maxsize=1)
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None

    def _read(self, stream: Any, is_stdout: bool) -> None:
        first = is_stdout
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            if first:
                first = False
                self._port.put(line)
            else:
                self.output.append(line)
        if first:
            self._port.put("")  # the pack exited before printing its port

    def connect(self, timeout_s: float) -> analyzer_pb2_grpc.AnalyzerStub:
        """Wait for the port the pack prints, then open the channel (the engine's plugin start-up)."""
        try:
            port = self._port.get(timeout=timeout_s).strip()
        except Empty:
            port = ""
        if not port.isdigit():
            self.close()
            tail = "\n".join(self.output) or f"no port on stdout within {timeout_s:g} s"
            raise InputError(Problem(f"--policy-pack {self.pack_dir}", f"the policy pack failed to start:\n{tail}"))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
        grpc.channel_ready_future(self.channel).result(timeout=timeout_s)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        return self.stub

    def close(self) -> None:
        """Interrupt the pack as the engine does (its server stops on KeyboardInterrupt); kill if it hangs."""
        if self.channel is not None:
            self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self._readers:
            reader.join(timeout=STOP_TIMEOUT_S)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        forget_child(self.process)


def _pack_env(context: StackContext) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PULUMI_PROJECT=context.project,
        PULUMI_STACK=context.stack,
        PULUMI_ORGANIZATION=context.organization,
        PULUMI_DRY_RUN="true",
        PULUMI_CONFIG=json.dumps(dict(context.config)),
    )
    return env


class _NotPlain(Exception):
    """A value that is not JSON (an asset, a resource reference, an unknown): the SDK's serializer's job."""


def _set_value(target: struct_pb2.Value, value: Any) -> None:
    """`target` as `Struct.update` sets a JSON value, in one pass (no separate check for plainness)."""
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is dict:
        struct = target.struct_value
        if value:
            fields = struct.fields
            for key, item in value.items():
                if type(key) is not str:
                    raise _NotPlain
                _set_value(fields[key], item)
        else:
            struct.SetInParent()
    elif kind is bool:
        target.bool_value = value
    elif kind is float or kind is int:
        target.number_value = value
    elif kind is list:
        values = target.list_value
        if value:
            add = values.values.add
            for item in value:
                _set_value(add(), item)
        else:
            values.SetInParent()
    elif value is None:
        target.null_value = struct_pb2.NULL_VALUE
    else:
        raise _NotPlain


def serialize_properties(values: list[Mapping[str, Any]]) -> list[bytes]:
    """Property maps as the engine marshals them (serialized Structs): unknowns and secrets kept, internal
    `__` keys skipped.

    A map of plain JSON values is written straight into a Struct, in the order `rpc.serialize_properties`
    would write it (a top-level None is dropped, nested ones stay null); only maps holding anything else
    (assets, resource references, unknowns) take the SDK's asynchronous serializer."""
    serialized: list[bytes | None] = []
    rest: list[tuple[int, dict[str, Any]]] = []
    for index, props in enumerate(values):
        struct = struct_pb2.Struct()
        fields = struct.fields
        try:
            for key, value in props.items():
                if value is not None and not key.startswith("__"):
                    _set_value(fields[key], value)
        except _NotPlain:
            serialized.append(None)
            rest.append((index, {k: v for k, v in props.items() if not k.startswith("__")}))
        else:
            serialized.append(struct.SerializeToString())

    async def serialize() -> None:
        for index, own in rest:
            serialized[index] = (await rpc.serialize_properties(own, {})).SerializeToString()

    if rest:
        asyncio.run(serialize())
    return [s if s is not None else b"" for s in serialized]


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (a string, a message, one element of a repeated one) in protobuf's wire format."""
    return bytes((number << 3 | 2,)) + _varint(len(payload)) + payload


_PROPERTIES, _OPTIONS, _PROVIDER = 2, 5, 6
"""Field numbers shared by AnalyzeRequest and AnalyzerResource (and AnalyzerProviderResource's properties)."""


class EngineRequests:
    """Engine-shaped requests for recorded resources, serialized: Analyze gets inputs, AnalyzeStack outputs.

    Each property map, resource options and provider is serialized once and spliced into the requests
    that carry it (a message's fields may come in any order on the wire), rather than copied into a
    message per request and serialized again."""

    def __init__(self, resources: list[Recorded]):
        self.resources = resources
        by_urn = {r.urn: r for r in resources}
        self.inputs = serialize_properties([r.inputs for r in resources])
        providers = {r.provider.rsplit("::", 1)[0] for r in resources if r.provider}
        known = [by_urn[urn] for urn in sorted(providers) if urn in by_urn]
        self.providers = {
            p.urn: _field(
                _PROVIDER,
                analyzer_pb2.AnalyzerProviderResource(type=p.type, urn=p.urn, name=p.name).SerializeToString()
                + _field(_PROPERTIES, props),
            )
            for p, props in zip(known, serialize_properties([p.inputs for p in known]), strict=True)
        }
        self.options = [
            _field(
                _OPTIONS,
                analyzer_pb2.AnalyzerResourceOptions(
                    protect=r.protect,
                    aliases=r.aliases,
                    parent=r.parent or "",
                    customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
                ).SerializeToString(),
            )
            for r in resources
        ]

    def _provider(self, resource: Recorded) -> bytes:
        return self.providers.get(resource.provider.rsplit("::", 1)[0], b"") if resource.provider else b""

    def analyze(self, index: int, properties: bytes | None = None) -> bytes:
        """A serialized AnalyzeRequest (also Remediate's) for resource `index`, with its inputs or `properties`."""
        r = self.resources[index]
        return b"".join(
            (
                analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name).SerializeToString(),
                _field(_PROPERTIES, properties if properties is not None else self.inputs[index]),
                self.options[index],
                self._provider(r),
            )
        )

    def analyze_stack(self) -> bytes:
        """The serialized AnalyzeStackRequest: every resource with its outputs, parent and dependencies."""
        outputs = serialize_properties([r.outputs for r in self.resources])
        return b"".join(
            _field(
                1,  # AnalyzeStackRequest.resources
                b"".join(
                    (
                        analyzer_pb2.AnalyzerResource(
                            type=r.type,
                            urn=r.urn,
                            name=r.name,
                            parent=r.parent or "",
                            dependencies=r.dependencies,
                            propertyDependencies={
                                key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                                for key, urns in r.property_dependencies.items()
                                if urns
                            },
                        ).SerializeToString(),
                        _field(_PROPERTIES, props),
                        options,
                        self._provider(r),
                    )
                ),
            )
            for r, props, options in zip(self.resources, outputs, self.options, strict=True)
        )


class _Calls:
    """A pack process's Analyze, Remediate and AnalyzeStack taking requests already serialized."""

    def __init__(self, channel: grpc.Channel):
        def call(method: str, response: Any) -> Any:
            return channel.unary_unary(f"/pulumirpc.Analyzer/{method}", response_deserializer=response.FromString)

        self.Analyze = call("Analyze", analyzer_pb2.AnalyzeResponse)
        self.Remediate = call("Remediate", analyzer_pb2.RemediateResponse)
        self.AnalyzeStack = call("AnalyzeStack", analyzer_pb2.AnalyzeResponse)


class PolicyAnalyzer:
    """A started policy pack (one or more processes). Use as a context manager, or call close()."""

    def __init__(self, pack_dir: Path, context: StackContext, processes: int = 1):
        self.pack_dir = pack_dir
        self._context = context
        self._env = _pack_env(context)
        manifest = read_manifest(pack_dir)
        self._processes: list[_AnalyzerProcess] = []
        self._stubs: list[analyzer_pb2_grpc.AnalyzerStub] = []
        self._calls: list[_Calls] = []
        try:
            self.grow(processes)
            self.info: analyzer_pb2.AnalyzerInfo = self._stubs[0].GetAnalyzerInfo(empty_pb2.Empty())
            self._stubs[0].GetPluginInfo(empty_pb2.Empty())  # the engine asks too (for its plugin list)
        except BaseException:
            self.close()
            raise
        self.name: str = self.info.name
        self.version: str = str(manifest.get("version") or self.info.version)
        """PulumiPolicy.yaml's version wins over the SDK's, as in the engine."""
        self._remediates = False

    def grow(self, processes: int) -> None:
        """Run `processes` copies of the pack in all: start the new ones together, then connect each.
        Call configure() after growing: new copies start unconfigured."""
        started = [_AnalyzerProcess(self.pack_dir, self._env) for _ in range(processes - len(self._processes))]
        self._processes += started
        for process in started:
            stub = process.connect(START_TIMEOUT_S)
            self._handshake(stub)
            stub.ConfigureStack(
                analyzer_pb2.AnalyzerStackConfigureRequest(
                    stack=self._context.stack,
                    project=self._context.project,
                    organization=self._context.organization,
                    dry_run=True,
                    config=dict(self._context.config),
                    config_secret_keys=list(self._context.secret_keys),
                )
            )
            self._stubs.append(stub)
            assert process.channel is not None  # connect() opened it
            self._calls.append(_Calls(process.channel))

    def _handshake(self, stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
        directory = str(self.pack_dir.resolve())
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=ENGINE_ADDRESS, root_directory=directory, program_directory=directory
        )
        try:
            stub.Handshake(request)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise

    def configure(self, policy_config: Mapping[str, analyzer_pb2.PolicyConfig]) -> None:
        """Send the reconciled config (enforcement levels and properties) to every process."""
        request = analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=dict(policy_config))
        for stub in self._stubs:
            stub.Configure(request)
        self._remediates = any(c.enforcementLevel == analyzer_pb2.REMEDIATE for c in policy_config.values())

    def analyze(self, resources: list[Recorded]) -> list[Diagnostic]:
        """Remediate and Analyze every resource, then AnalyzeStack, as a preview does."""
        requests = EngineRequests(resources)
        with ThreadPoolExecutor(max_workers=CALLS_IN_FLIGHT * len(self._calls) + 1) as pool:
            # Built in the pool too (~50 ms on prod), so the Analyze stream starts at once.
            stack = pool.submit(lambda: self._call(self._calls[0].AnalyzeStack, requests.analyze_stack()))
            remediated: dict[int, bytes] = {}
            diagnostics: list[Diagnostic] = []
            if self._remediates:
                # Only policies configured `remediate` act in Remediate; with none, the SDK answers nothing.
                for index, response in enumerate(self._call_each(pool, "Remediate", requests, {})):
                    for remediation in response.remediations:
                        if remediation.diagnostic:
                            diagnostics.append(self._remediation_diagnostic(remediation, resources[index].urn))
                        elif remediation.HasField("properties"):
                            remediated[index] = remediation.properties.SerializeToString()
            for index, response in enumerate(self._call_each(pool, "Analyze", requests, remediated)):
                diagnostics += [self._diagnostic(d, resources[index].urn) for d in response.diagnostics]
            diagnostics += [self._diagnostic(d, d.urn or None) for d in stack.result().diagnostics]
        return diagnostics

    def _call_each(
        self, pool: ThreadPoolExecutor, method: str, requests: EngineRequests, properties: Mapping[int, bytes]
    ) -> list[Any]:
        """`method` for every resource, in order; each process takes the next resource as soon as it is free."""
        responses: list[Any] = [None] * len(requests.resources)
        next_index = itertools.count()

        def work(calls: _Calls) -> None:
            call = getattr(calls, method)
            while (index := next(next_index)) < len(responses):
                responses[index] = self._call(call, requests.analyze(index, properties.get(index)))

        workers = [pool.submit(work, calls) for calls in self._calls for _ in range(CALLS_IN_FLIGHT)]
        for worker in workers:
            worker.result()
        return responses

    def _call(self, call: Any, request: Any) -> Any:
        """One RPC; a pack that fails (a policy raised) becomes an error naming the pack and its output."""
        try:
            return call(request)
        except grpc.RpcError as err:
            output = "\n".join(line for p in self._processes for line in p.output)
            raise InputError(
                Problem(f"--policy-pack {self.pack_dir}", f"the policy pack failed: {err.details()}\n{output}".rstrip())
            ) from None

    def _diagnostic(self, d: analyzer_pb2.AnalyzeDiagnostic, urn: str | None) -> Diagnostic:
        return Diagnostic(
            policy_pack=d.policyPackName or self.name,
            policy_name=d.policyName,
            urn=urn,
            enforcement_level=LEVELS[d.enforcementLevel],
            severity=SEVERITIES[d.severity] if d.severity else None,
            description=d.description,
            message=d.message,
        )

    def _remediation_diagnostic(self, r: analyzer_pb2.Remediation, urn: str) -> Diagnostic:
        """A remediation that could not run during preview: the engine shows it as an advisory violation."""
        return Diagnostic(r.policyPackName, r.policyName, urn, "advisory", None, r.description, r.diagnostic)

    def peak_rss_mib(self) -> list[float]:
        """Each pack process's peak resident memory so far (Linux's VmHWM), for benchmarks; [] elsewhere."""
        peaks = []
        for process in self._processes:
            status = Path(f"/proc/{process.process.pid}/status")
            if status.is_file():
                line = next((x for x in status.read_text().splitlines() if x.startswith("VmHWM:")), "")
                if line:
                    peaks.append(round(int(line.split()[1]) / 1024, 1))
        return peaks

    def close(self) -> None:
        for process in self._processes:
            process.close()

    def __enter__(self) -> PolicyAnalyzer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

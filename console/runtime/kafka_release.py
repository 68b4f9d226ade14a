"""What the harness does differently per Apache Kafka release line (3.9 and 4.x).

``release(version)`` returns a ``KafkaRelease`` that knows, for that version:

- the jars: ``kafka_2.13`` plus an SLF4J binding. 3.9 logs through reload4j (log4j 1.x API);
  4.x dropped log4j 1 and its distribution logs through log4j2 (``log4j-slf4j-impl`` and
  ``log4j-core``), configured with ``-Dlog4j2.configurationFile``. Neither binding is in
  ``kafka_2.13``'s POM (the release tarball ships it), so the harness names it.
- the controller quorum: 3.9 keeps the static ``controller.quorum.voters``; 4.x uses the dynamic
  quorum (KIP-853) its own ``config/server.properties`` ships with,
  ``controller.quorum.bootstrap.servers``, which the storage format command must be told about
  with ``--standalone`` (a single controller that is its own voter).
- settings only one line knows: 4.x enables share groups (KIP-932), whose state topic defaults
  to 3 replicas and a min ISR of 2, impossible on one node; 3.9 would log them as unknown.
- the consumer group protocols the broker accepts: ``classic`` everywhere, ``consumer``
  (KIP-848, GA in 4.0) on 4.x only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from console.base.errors import InputError

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "KafkaRelease",
    "default_kafka_version",
    "release",
]

# The newest 4.x that Maven Central serves and the suite passes on (see README).
DEFAULT_KAFKA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"
SLF4J_VERSION = "1.7.36"
LOG4J2_VERSION = "2.24.3"

_OPT = "--kafka-version (env HANDOFF_KAFKA_VERSION)"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

_LOG4J = """log4j.rootLogger=WARN, stdout
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""

_LOG4J2 = """status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
"""


def default_kafka_version() -> str:
    """``HANDOFF_KAFKA_VERSION`` when set, else the harness's default release."""
    return os.environ.get("HANDOFF_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION


def _dependency(group: str, artifact: str, version: str) -> str:
    return (
        "    <dependency>\n"
        f"      <groupId>{group}</groupId>\n"
        f"      <artifactId>{artifact}</artifactId>\n"
        f"      <version>{version}</version>\n"
        "    </dependency>\n"
    )


@dataclass(frozen=True)
class KafkaRelease:
    version: str
    major: int
    minor: int

    @property
    def log4j2(self) -> bool:
        """4.x logs through log4j2; 3.9 through reload4j (the log4j 1.x API)."""
        return self.major >= 4

    @property
    def dynamic_quorum(self) -> bool:
        return self.major >= 4

    @property
    def group_protocols(self) -> tuple[str, ...]:
        """The ``group.protocol`` values a consumer may use against this broker as configured."""
        return ("classic", "consumer") if self.major >= 4 else ("classic",)

    def pom(self) -> str:
        deps = [_dependency("org.apache.kafka", f"kafka_{SCALA_VERSION}", self.version)]
        if self.log4j2:
            deps.append(_dependency("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J2_VERSION))
            deps.append(_dependency("org.apache.logging.log4j", "log4j-core", LOG4J2_VERSION))
        else:
            deps.append(_dependency("org.slf4j", "slf4j-reload4j", SLF4J_VERSION))
        return (
            '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
            "  <modelVersion>4.0.0</modelVersion>\n"
            "  <groupId>handoff-console</groupId>\n"
            "  <artifactId>kafka-harness</artifactId>\n"
            "  <version>1</version>\n"
            "  <packaging>pom</packaging>\n"
            "  <dependencies>\n" + "".join(deps) + "  </dependencies>\n</project>\n"
        )

    @property
    def log_config_name(self) -> str:
        return "log4j2.properties" if self.log4j2 else "log4j.properties"

    @property
    def log_config(self) -> str:
        return _LOG4J2 if self.log4j2 else _LOG4J

    def log_jvm_flag(self, path: str) -> str:
        prop = "log4j2.configurationFile" if self.log4j2 else "log4j.configuration"
        return f"-D{prop}=file:{path}"

    def quorum_config(self, host: str, controller_port: int) -> list[str]:
        controller = f"{host}:{controller_port}"
        if self.dynamic_quorum:
            return [f"controller.quorum.bootstrap.servers={controller}"]
        return [f"controller.quorum.voters=1@{controller}"]

    def advertised_listeners(self, host: str, port: int, controller_port: int) -> str:
        # With a dynamic quorum the controller advertises its own endpoint to the voters set.
        if self.dynamic_quorum:
            return f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}"
        return f"PLAINTEXT://{host}:{port}"

    def extra_config(self) -> list[str]:
        if self.major >= 4:
            return [
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
            ]
        return []

    def format_args(self, cluster_id: str, props: str) -> list[str]:
        args = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", props]
        if self.dynamic_quorum:
            args.append("--standalone")
        return args


def release(version: str) -> KafkaRelease:
    """The release for VERSION (``X.Y.Z``); InputError for anything the harness cannot run."""
    m = _VERSION.match(version.strip())
    if m is None:
        raise InputError(f"{_OPT}: {version!r} is not a release number like 4.1.1")
    major, minor = int(m.group(1)), int(m.group(2))
    if major < 3 or (major == 3 and minor < 9):
        raise InputError(
            f"{_OPT}: Kafka {version} is not supported; the harness runs 3.9.x or 4.x "
            f"(default {DEFAULT_KAFKA_VERSION})"
        )
    return KafkaRelease(version.strip(), major, minor)

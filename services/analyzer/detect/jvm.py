"""JVM apps: Spring Boot, Quarkus, Micronaut, built with Maven or Gradle."""

from __future__ import annotations

import re

from ._common import add_common, scan_env, valid_port
from ._model import AppContext, AppFinding, BindHit, EnvHit, PortHit, ServiceHit, evidence_at

__all__ = ["MARKERS", "detect"]

MARKERS = ("pom.xml", "build.gradle", "build.gradle.kts")
_FRAMEWORKS = [
    ("spring-boot-starter-web", "spring-boot"),
    ("spring-boot-starter-webflux", "spring-boot"),
    ("io.quarkus", "quarkus"),
    ("micronaut-http-server", "micronaut"),
    ("io.micronaut", "micronaut"),
]
_SERVICES = {
    "org.postgresql": "postgres",
    "postgresql": "postgres",
    "mysql-connector": "mysql",
    "spring-boot-starter-data-redis": "redis",
    "jedis": "redis",
    "spring-boot-starter-data-mongodb": "mongodb",
    "mongodb-driver": "mongodb",
    "spring-boot-starter-amqp": "rabbitmq",
    "quarkus-jdbc-postgresql": "postgres",
    "quarkus-redis": "redis",
}
_PORT_PROPS = re.compile(
    r"^\s*(?:server\.port|quarkus\.http\.port|micronaut\.server\.port)\s*[=:]\s*(?P<value>\S+)",
    re.M,
)
_YAML_PORT = re.compile(
    r"^(?:server|micronaut):\s*\n(?:[ \t]+.*\n)*?[ \t]+port:\s*(?P<value>\S+)", re.M
)
_ADDR_PROPS = re.compile(
    r"^\s*(?:server\.address|quarkus\.http\.host)\s*[=:]\s*(?P<addr>\S+)", re.M
)
_PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*)(?::(?P<default>[^}]*))?\}")
_ENV = [(re.compile(r"""System\.getenv\(\s*"(?P<name>[A-Za-z_]\w*)"\s*\)"""), False)]


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a JVM web app in this folder."""
    manifest = next((m for m in MARKERS if ctx.has(m)), None)
    if manifest is None:
        return None
    text = ctx.read(manifest) or ""
    maven = manifest == "pom.xml"
    finding = AppFinding(
        root=ctx.root, language="java", package_manager="maven" if maven else "gradle"
    )
    if m := re.search(
        r"<(?:java\.version|maven\.compiler\.release|maven\.compiler\.source)>(\d+)<|languageVersion(?:\.set)?\s*[(=]\s*JavaLanguageVersion\.of\((\d+)\)|sourceCompatibility\s*=\s*['\"]?(?:JavaVersion\.VERSION_)?(\d+)",
        text,
    ):
        finding.runtime_version = next(g for g in m.groups() if g)
        finding.runtime_evidence = evidence_at(ctx.rel(manifest), text, m.start())
    for key, kind in _SERVICES.items():
        if key in text:
            finding.services.append(
                ServiceHit(kind, evidence_at(ctx.rel(manifest), text, text.find(key)))
            )
    sources = ctx.sources(
        (".java", ".kt"), priority=("Application.java", "Application.kt"), limit=30, max_depth=10
    )
    props = [
        (ctx.rel(p), t)
        for p in (
            "src/main/resources/application.properties",
            "src/main/resources/application.yml",
            "src/main/resources/application.yaml",
        )
        if (t := ctx.read(p)) is not None
    ]
    finding.env.extend(scan_env(sources, _ENV))
    for rel, t in props:
        for m in _PLACEHOLDER.finditer(t):
            finding.env.append(
                EnvHit(
                    m.group("name"),
                    m.group("default"),
                    m.group("default") is not None,
                    evidence_at(rel, t, m.start()),
                )
            )
    add_common(ctx, finding, sources)
    framework = next((fw for key, fw in _FRAMEWORKS if key in text), None)
    if framework is None:
        finding.non_service.append(
            f"{ctx.rel(manifest)} builds a Java program with no web framework"
        )
        return finding
    finding.framework = framework
    finding.kind = "server"
    key = next(k for k, fw in _FRAMEWORKS if fw == framework and k in text)
    finding.evidence.append(evidence_at(ctx.rel(manifest), text, text.find(key)))
    finding.reasons.append(f"{framework} dependency in {ctx.rel(manifest)}")
    finding.default_port = 8080
    finding.default_port_reason = f"{framework} listens on 8080 by default"
    for rel, t in props:
        m = _PORT_PROPS.search(t) or _YAML_PORT.search(t)
        if m:
            value = m.group("value")
            ph = _PLACEHOLDER.fullmatch(value)
            port = valid_port(ph.group("default") or "") if ph else valid_port(value)
            if port:
                finding.ports.append(PortHit(port, "code", [evidence_at(rel, t, m.start("value"))]))
        if a := _ADDR_PROPS.search(t):
            finding.binds.append(BindHit(a.group("addr"), evidence_at(rel, t, a.start())))
    if "spring-boot-starter-actuator" in text:
        finding.health.insert(
            0,
            (
                "/actuator/health",
                evidence_at(ctx.rel(manifest), text, text.find("spring-boot-starter-actuator")),
            ),
        )
    if "smallrye-health" in text:
        finding.health.insert(
            0, ("/q/health", evidence_at(ctx.rel(manifest), text, text.find("smallrye-health")))
        )
    wrapper = (
        ("./mvnw" if ctx.has("mvnw") else "mvn")
        if maven
        else ("./gradlew" if ctx.has("gradlew") else "gradle")
    )
    if maven:
        finding.build_command = f"{wrapper} -B package -DskipTests"
        artifact = re.search(
            r"</parent>.*?<artifactId>([^<]+)</artifactId>", text, re.S
        ) or re.search(r"<artifactId>([^<]+)</artifactId>", text)
        version = re.search(r"</parent>.*?<version>([^<]+)</version>", text, re.S)
        jar = (
            f"target/{artifact.group(1)}-{version.group(1)}.jar"
            if artifact and version
            else "target/*.jar"
        )
        if framework == "quarkus":
            jar = "target/quarkus-app/quarkus-run.jar"
    else:
        finding.build_command = f"{wrapper} build -x test"
        jar = "build/quarkus-app/quarkus-run.jar" if framework == "quarkus" else "build/libs/*.jar"
    finding.start_command = f"java -jar {jar}"
    finding.start_reason = f"{framework} builds an executable jar"
    return finding

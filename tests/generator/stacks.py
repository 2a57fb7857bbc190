"""Analysis objects for every stack the generator supports, as the analyzer would emit them."""

from __future__ import annotations

from shared.analysis import Analysis, BackingService, EnvVar, ExistingDocker, PortFinding

__all__ = ["STACKS", "make_analysis"]


def make_analysis(
    language: str,
    framework: str | None,
    tree: list[str],
    *,
    port: int | None = None,
    start: str | None = None,
    build: str | None = None,
    package_manager: str | None = None,
    services: tuple[str, ...] = (),
    env: tuple[EnvVar, ...] = (),
    loopback: bool = False,
    docker: ExistingDocker | None = None,
) -> Analysis:
    """An Analysis with the fields the generator reads filled in."""
    return Analysis(
        language=language,
        framework=framework,
        tree=tree,
        file_count=len(tree),
        port=PortFinding(value=port, source="code") if port else None,
        start_command=start,
        build_command=build,
        package_manager=package_manager,
        services=[BackingService(kind=k) for k in services],  # type: ignore[arg-type]
        env_vars=list(env),
        binds_loopback=loopback,
        bind_address="127.0.0.1" if loopback else None,
        docker=docker,
        reasons=[f"{language} project detected from {tree[0] if tree else 'nothing'}"],
    )


STACKS: dict[str, Analysis] = {
    "python-flask": make_analysis(
        "python",
        "flask",
        ["app.py", "requirements.txt"],
        port=5000,
        start="python app.py",
        loopback=True,
        services=("postgres",),
        env=(
            EnvVar(name="SECRET_KEY", secret=True, required=True),
            EnvVar(name="DEBUG", default="0"),
        ),
    ),
    "python-fastapi": make_analysis(
        "python",
        "fastapi",
        ["app/main.py", "pyproject.toml", "poetry.lock"],
        port=8000,
        start="uvicorn app.main:app --host 127.0.0.1",
        loopback=True,
        services=("redis",),
    ),
    "python-django": make_analysis(
        "python",
        "django",
        ["manage.py", "mysite/wsgi.py", "mysite/settings.py", "requirements.txt"],
        port=8000,
        start="python manage.py runserver",
        services=("postgres",),
    ),
    "python-streamlit": make_analysis(
        "python", "streamlit", ["app.py", "requirements.txt"], port=8501
    ),
    "python-gradio": make_analysis("python", "gradio", ["app.py", "requirements.txt"], port=7860),
    "python-plain": make_analysis(
        "python",
        None,
        ["server.py", "uv.lock", "pyproject.toml"],
        port=8000,
        start="python server.py",
    ),
    "node-express": make_analysis(
        "javascript",
        "express",
        ["server.js", "package.json", "package-lock.json"],
        port=3000,
        start="node server.js",
        services=("mongodb",),
    ),
    "node-fastify": make_analysis(
        "typescript",
        "fastify",
        ["src/index.ts", "package.json", "pnpm-lock.yaml"],
        port=3000,
        start="node dist/index.js",
        build="pnpm run build",
        loopback=True,
    ),
    "node-koa": make_analysis(
        "javascript", "koa", ["index.js", "package.json", "yarn.lock"], port=3000
    ),
    "node-hono": make_analysis("typescript", "hono", ["src/index.ts", "package.json"], port=3000),
    "node-nest": make_analysis(
        "typescript",
        "nestjs",
        ["src/main.ts", "package.json", "package-lock.json"],
        port=3000,
        services=("postgres", "redis"),
    ),
    "node-next": make_analysis(
        "typescript", "next", ["app/page.tsx", "package.json", "package-lock.json"], port=3000
    ),
    "node-nuxt": make_analysis(
        "typescript", "nuxt", ["nuxt.config.ts", "package.json", "package-lock.json"]
    ),
    "node-sveltekit": make_analysis(
        "typescript",
        "sveltekit",
        ["svelte.config.js", "package.json", "package-lock.json"],
        port=5173,
    ),
    "node-remix": make_analysis(
        "typescript", "remix", ["app/root.tsx", "package.json", "package-lock.json"]
    ),
    "spa-vite": make_analysis(
        "typescript",
        "vite",
        ["index.html", "src/main.tsx", "package.json", "package-lock.json"],
        port=5173,
    ),
    "spa-cra": make_analysis(
        "javascript", "create-react-app", ["public/index.html", "package.json", "yarn.lock"]
    ),
    "spa-angular": make_analysis(
        "typescript", "angular", ["angular.json", "package.json", "package-lock.json"], port=4200
    ),
    "go": make_analysis("go", "gin", ["go.mod", "go.sum", "cmd/server/main.go"], port=8080),
    "java-spring-maven": make_analysis(
        "java", "spring-boot", ["pom.xml", "src/main/java/App.java"], port=8080, services=("mysql",)
    ),
    "java-quarkus-gradle": make_analysis(
        "java", "quarkus", ["build.gradle", "settings.gradle"], port=8080
    ),
    "java-micronaut-maven": make_analysis("java", "micronaut", ["pom.xml"], port=8080),
    "dotnet": make_analysis("csharp", "aspnet", ["Api/Api.csproj", "Api/Program.cs"], port=5000),
    "ruby-rails": make_analysis(
        "ruby",
        "rails",
        ["Gemfile", "Gemfile.lock", "config.ru", "app/assets/config/manifest.js"],
        port=3000,
        services=("postgres",),
    ),
    "ruby-sinatra": make_analysis(
        "ruby", "sinatra", ["Gemfile", "Gemfile.lock", "app.rb"], port=4567, start="ruby app.rb"
    ),
    "ruby-rack": make_analysis("ruby", "rack", ["Gemfile", "config.ru"], port=9292),
    "php-plain": make_analysis("php", None, ["index.php"], port=80),
    "php-laravel": make_analysis(
        "php",
        "laravel",
        ["artisan", "composer.json", "composer.lock", "public/index.php"],
        port=8000,
        services=("mysql",),
    ),
    "rust": make_analysis("rust", "axum", ["Cargo.toml", "Cargo.lock", "src/main.rs"], port=3000),
    "elixir-phoenix": make_analysis(
        "elixir",
        "phoenix",
        ["mix.exs", "mix.lock", "assets/app.js"],
        port=4000,
        services=("postgres",),
    ),
    "deno": make_analysis("typescript", "deno", ["main.ts", "deno.json"], port=8000),
    "bun": make_analysis(
        "typescript",
        "bun",
        ["index.ts", "package.json", "bun.lockb", "tsconfig.json"],
        port=3000,
        start="bun run index.ts",
        package_manager="bun",
    ),
    "static": make_analysis("html", None, ["site/index.html", "site/style.css"]),
    "existing-dockerfile": make_analysis(
        "python",
        "flask",
        ["Dockerfile", "app.py", "requirements.txt"],
        port=5000,
        docker=ExistingDocker(dockerfile="Dockerfile", exposed_ports=[5000]),
    ),
    "existing-compose": make_analysis(
        "node",
        "express",
        ["docker-compose.yml", "Dockerfile", "server.js", "package.json", "Makefile"],
        port=3000,
        docker=ExistingDocker(
            dockerfile="Dockerfile",
            compose_file="docker-compose.yml",
            compose_services=["db", "web"],
            compose_ports=[3000],
        ),
    ),
}

# ruff: noqa: E501  -- the fixtures are other projects' files, kept verbatim as they would be written
"""A corpus of small but realistic repositories, built on demand in a temporary folder.

Each fixture is a function that writes files under a root, plus what the analyzer must
conclude about it. The generator's tests reuse this corpus through `build(fixture, dest)`.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CORPUS", "Fixture", "build", "by_name", "write_files"]

ANY = "*"  # in Fixture.start / Fixture.bind: do not check


@dataclass(frozen=True)
class Fixture:
    """One repository of the corpus and what the analyzer must find in it."""

    name: str
    builder: Callable[[Path], None]
    verdict: str
    language: str | None
    framework: str | None
    port: int | None
    bind: str | None  # "0.0.0.0", "127.0.0.1", None (not stated) or ANY
    start: str | None  # substring of the start command; None: no start command; ANY: skip
    app_root: str = "."
    description: str = "deploy this app"
    services: tuple[str, ...] = ()
    reason: str = ""  # substring expected in verdict_reasons
    health: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    """Write files (dedented text or bytes) under root, creating folders."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))


def _pkg(**fields: object) -> str:
    return json.dumps({"name": "app", "version": "1.0.0", **fields}, indent=2) + "\n"


# --- Python -------------------------------------------------------------------------------


def flask_gunicorn(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "flask==3.0.3\ngunicorn==22.0.0\npsycopg2-binary==2.9.9\n",
            "app.py": """
            import os
            from flask import Flask, jsonify

            app = Flask(__name__)
            app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
            DATABASE_URL = os.getenv("DATABASE_URL", "postgres://app:app@db:5432/app")

            @app.get("/healthz")
            def healthz():
                return jsonify(ok=True)
        """,
            ".python-version": "3.12.3\n",
            "README.md": "# Flask app\n",
        },
    )


def flask_subfolder_loopback(root: Path) -> None:
    write_files(
        root,
        {
            "README.md": "# Demo\nThe app lives in app/.\n",
            "app/requirements.txt": "Flask>=2.3\n",
            "app/app.py": """
            from flask import Flask

            app = Flask(__name__)

            @app.route("/")
            def index():
                return "hello"

            if __name__ == "__main__":
                app.run(host="127.0.0.1", port=5000, debug=False)
        """,
            "app/templates/index.html": "<h1>hi</h1>\n",
        },
    )


def flask_with_cli(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "flask\nclick\n",
            "app.py": """
            from flask import Flask
            app = Flask(__name__)

            @app.get("/")
            def home():
                return "ok"

            if __name__ == "__main__":
                app.run(host="0.0.0.0", port=8000)
        """,
            "cli.py": """
            import click

            @click.command()
            def seed():
                click.echo("seeded")
        """,
        },
    )


def flask_procfile(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "Flask\ngunicorn\nredis\n",
            "Procfile": "web: gunicorn wsgi:app --bind 0.0.0.0:$PORT --workers 2\n",
            "wsgi.py": "from flask import Flask\napp = Flask(__name__)\nREDIS = __import__('os').environ.get('REDIS_URL')\n",
            "runtime.txt": "python-3.11.9\n",
        },
    )


def flask_poetry_default_host(root: Path) -> None:
    write_files(
        root,
        {
            "pyproject.toml": """
            [tool.poetry]
            name = "svc"
            version = "0.1.0"

            [tool.poetry.dependencies]
            python = "^3.11"
            flask = "^3.0"
        """,
            "poetry.lock": "# lock\n",
            "main.py": """
            from flask import Flask
            app = Flask(__name__)

            if __name__ == "__main__":
                app.run(port=5050)
        """,
        },
    )


def fastapi_uvicorn(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "fastapi==0.111.0\nuvicorn[standard]==0.30.0\nasyncpg\n",
            "main.py": """
            import os
            from fastapi import FastAPI

            app = FastAPI()
            API_TOKEN = os.getenv("API_TOKEN")

            @app.get("/health")
            async def health():
                return {"status": "ok"}
        """,
        },
    )


def fastapi_pyproject_uv(root: Path) -> None:
    write_files(
        root,
        {
            "pyproject.toml": """
            [project]
            name = "svc"
            version = "0.1.0"
            requires-python = ">=3.12"
            dependencies = ["fastapi>=0.110", "uvicorn>=0.29"]
        """,
            "uv.lock": "version = 1\n",
            "app/__init__.py": "",
            "app/main.py": """
            import uvicorn
            from fastapi import FastAPI

            app = FastAPI(title="svc")

            if __name__ == "__main__":
                uvicorn.run("app.main:app", host="0.0.0.0", port=8080)
        """,
        },
    )


def django_app(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "Django==5.0.6\ngunicorn\npsycopg2-binary\n",
            "manage.py": """
            #!/usr/bin/env python
            import os, sys

            def main():
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
                from django.core.management import execute_from_command_line
                execute_from_command_line(sys.argv)

            if __name__ == "__main__":
                main()
        """,
            "mysite/__init__.py": "",
            "mysite/settings.py": """
            import os
            SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-dev-key")
            DEBUG = os.environ.get("DEBUG", "0") == "1"
        """,
            "mysite/wsgi.py": "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
            "mysite/urls.py": "urlpatterns = []\n",
        },
    )


def streamlit_app(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "streamlit==1.35.0\npandas\n",
            "streamlit_app.py": "import streamlit as st\n\nst.title('Dashboard')\n",
        },
    )


def gradio_app(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "gradio\n",
            "app.py": """
            import gradio as gr

            def greet(name):
                return "Hello " + name

            demo = gr.Interface(fn=greet, inputs="text", outputs="text")

            if __name__ == "__main__":
                demo.launch(server_name="0.0.0.0", server_port=7860)
        """,
        },
    )


def python_http_server(root: Path) -> None:
    write_files(
        root,
        {
            "server.py": """
            from http.server import BaseHTTPRequestHandler, HTTPServer

            class Handler(BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.end_headers()

            if __name__ == "__main__":
                HTTPServer(("", 8000), Handler).serve_forever()
        """,
        },
    )


# --- Node ---------------------------------------------------------------------------------


def express_app(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                main="server.js",
                scripts={"start": "node server.js"},
                dependencies={"express": "^4.19.2", "pg": "^8.11.0"},
                engines={"node": ">=20"},
            ),
            "package-lock.json": "{}\n",
            "server.js": """
            const express = require('express');
            const app = express();
            const port = process.env.PORT || 3000;
            const dbUrl = process.env.DATABASE_URL;
            app.get('/api/health', (req, res) => res.json({ ok: true }));
            app.listen(port, () => console.log(`listening on ${port}`));
        """,
        },
    )


def fastify_loopback(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(main="index.js", dependencies={"fastify": "^4.27.0"}),
            "yarn.lock": "# yarn\n",
            "index.js": """
            const fastify = require('fastify')({ logger: true });
            fastify.get('/', async () => ({ hello: 'world' }));
            fastify.listen({ port: 8080, host: '127.0.0.1' });
        """,
        },
    )


def koa_pnpm(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"start": "node app.js"}, dependencies={"koa": "^2.15.0", "ioredis": "^5"}
            ),
            "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
            ".nvmrc": "20.11.1\n",
            "app.js": """
            const Koa = require('koa');
            const app = new Koa();
            app.use(async ctx => { ctx.body = 'ok'; });
            app.listen(4000);
        """,
        },
    )


def hono_bun(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"start": "bun run src/index.ts"}, dependencies={"hono": "^4.4.0"}
            ),
            "bun.lockb": b"\x00\x01bun-binary-lock",
            "src/index.ts": """
            import { Hono } from 'hono'
            const app = new Hono()
            app.get('/', (c) => c.text('Hello Hono!'))
            export default { port: 3000, fetch: app.fetch }
        """,
        },
    )


def nest_app(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={
                    "build": "nest build",
                    "start": "nest start",
                    "start:prod": "node dist/main",
                },
                dependencies={"@nestjs/core": "^10.0.0", "@nestjs/common": "^10.0.0"},
            ),
            "package-lock.json": "{}\n",
            "src/main.ts": """
            import { NestFactory } from '@nestjs/core';
            import { AppModule } from './app.module';
            async function bootstrap() {
              const app = await NestFactory.create(AppModule);
              await app.listen(process.env.PORT ?? 3000);
            }
            bootstrap();
        """,
        },
    )


def nextjs_app(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"dev": "next dev", "build": "next build", "start": "next start"},
                dependencies={"next": "14.2.3", "react": "18.3.1", "react-dom": "18.3.1"},
            ),
            "package-lock.json": "{}\n",
            "app/page.tsx": "export default function Page() { return <h1>Hello</h1> }\n",
            "next.config.js": "module.exports = {}\n",
        },
    )


def nuxt_app(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"build": "nuxt build", "dev": "nuxt dev"}, dependencies={"nuxt": "^3.11.0"}
            ),
            "nuxt.config.ts": "export default defineNuxtConfig({})\n",
            "app.vue": "<template><div>hi</div></template>\n",
        },
    )


def sveltekit_app(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"build": "vite build", "dev": "vite dev"},
                devDependencies={
                    "@sveltejs/kit": "^2.5.0",
                    "@sveltejs/adapter-node": "^5",
                    "vite": "^5",
                },
            ),
            "svelte.config.js": "import adapter from '@sveltejs/adapter-node';\nexport default { kit: { adapter: adapter() } };\n",
            "src/routes/+page.svelte": "<h1>Welcome</h1>\n",
        },
    )


def remix_app(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={
                    "build": "remix vite:build",
                    "start": "remix-serve ./build/server/index.js",
                },
                dependencies={
                    "@remix-run/node": "^2.9",
                    "@remix-run/serve": "^2.9",
                    "@remix-run/react": "^2.9",
                },
            ),
            "app/root.tsx": "export default function App() { return null }\n",
        },
    )


def vite_spa(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"dev": "vite", "build": "vite build", "preview": "vite preview"},
                dependencies={"react": "^18.3.1", "react-dom": "^18.3.1"},
                devDependencies={"vite": "^5.2.0", "@vitejs/plugin-react": "^4.2.1"},
            ),
            "index.html": '<div id="root"></div><script type="module" src="/src/main.jsx"></script>\n',
            "src/main.jsx": "import React from 'react'\nconst api = import.meta.env.VITE_API_URL\n",
        },
    )


def cra_spa(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"start": "react-scripts start", "build": "react-scripts build"},
                dependencies={"react": "^18", "react-dom": "^18", "react-scripts": "5.0.1"},
            ),
            "public/index.html": "<div id=root></div>\n",
            "src/index.js": "import React from 'react';\n",
        },
    )


def angular_spa(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": json.dumps(
                {
                    "name": "shop",
                    "scripts": {"build": "ng build"},
                    "dependencies": {"@angular/core": "^17.3.0"},
                    "devDependencies": {"@angular/cli": "^17"},
                }
            ),
            "angular.json": "{}\n",
            "src/main.ts": "import { bootstrapApplication } from '@angular/platform-browser';\n",
        },
    )


# --- Go -----------------------------------------------------------------------------------


def go_nethttp(root: Path) -> None:
    write_files(
        root,
        {
            "go.mod": "module example.com/hello\n\ngo 1.22\n",
            "main.go": """
            package main

            import (
            \t"net/http"
            \t"os"
            )

            func main() {
            \ttoken := os.Getenv("API_TOKEN")
            \t_ = token
            \thttp.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
            \thttp.ListenAndServe(":8080", nil)
            }
        """,
        },
    )


def go_gin(root: Path) -> None:
    write_files(
        root,
        {
            "go.mod": "module example.com/api\n\ngo 1.21\n\nrequire (\n\tgithub.com/gin-gonic/gin v1.10.0\n\tgithub.com/redis/go-redis/v9 v9.5.1\n)\n",
            "cmd/api/main.go": """
            package main

            import "github.com/gin-gonic/gin"

            func main() {
            \tr := gin.Default()
            \tr.GET("/ping", func(c *gin.Context) { c.String(200, "pong") })
            \tr.Run(":9000")
            }
        """,
        },
    )


def go_echo(root: Path) -> None:
    write_files(
        root,
        {
            "go.mod": "module example.com/e\n\ngo 1.22\n\nrequire github.com/labstack/echo/v4 v4.12.0\n",
            "server.go": """
            package main

            import (
            \t"os"
            \t"github.com/labstack/echo/v4"
            )

            func main() {
            \te := echo.New()
            \tport := os.Getenv("PORT")
            \tif port == "" { port = "1323" }
            \te.Start(":" + port)
            }
        """,
        },
    )


def go_chi_localhost(root: Path) -> None:
    write_files(
        root,
        {
            "go.mod": "module example.com/c\n\ngo 1.22\n\nrequire github.com/go-chi/chi/v5 v5.0.12\n",
            "main.go": """
            package main

            import (
            \t"net/http"
            \t"github.com/go-chi/chi/v5"
            )

            func main() {
            \tr := chi.NewRouter()
            \thttp.ListenAndServe("localhost:3333", r)
            }
        """,
        },
    )


def go_fiber(root: Path) -> None:
    write_files(
        root,
        {
            "go.mod": "module example.com/f\n\ngo 1.22\n\nrequire github.com/gofiber/fiber/v2 v2.52.4\n",
            "main.go": """
            package main

            import "github.com/gofiber/fiber/v2"

            func main() {
            \tapp := fiber.New()
            \tapp.Listen(":3000")
            }
        """,
        },
    )


def go_cli_cobra(root: Path) -> None:
    write_files(
        root,
        {
            "go.mod": "module example.com/tool\n\ngo 1.22\n\nrequire github.com/spf13/cobra v1.8.0\n",
            "main.go": 'package main\n\nimport "example.com/tool/cmd"\n\nfunc main() { cmd.Execute() }\n',
            "cmd/root.go": 'package cmd\n\nimport "github.com/spf13/cobra"\n\nvar rootCmd = &cobra.Command{Use: "tool"}\n\nfunc Execute() { rootCmd.Execute() }\n',
        },
    )


# --- JVM, .NET ----------------------------------------------------------------------------


_SPRING_POM = """
    <project>
      <modelVersion>4.0.0</modelVersion>
      <parent>
        <groupId>org.springframework.boot</groupId>
        <artifactId>spring-boot-starter-parent</artifactId>
        <version>3.3.0</version>
      </parent>
      <groupId>com.example</groupId>
      <artifactId>demo</artifactId>
      <version>0.0.1-SNAPSHOT</version>
      <properties><java.version>21</java.version></properties>
      <dependencies>
        <dependency><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-web</artifactId></dependency>
        <dependency><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-actuator</artifactId></dependency>
        <dependency><groupId>org.postgresql</groupId><artifactId>postgresql</artifactId></dependency>
      </dependencies>
    </project>
"""


def spring_maven(root: Path) -> None:
    write_files(
        root,
        {
            "pom.xml": _SPRING_POM,
            "mvnw": "#!/bin/sh\n",
            "src/main/resources/application.properties": "server.port=${PORT:8081}\nspring.datasource.password=${DB_PASSWORD}\n",
            "src/main/java/com/example/demo/DemoApplication.java": """
            package com.example.demo;
            @SpringBootApplication
            public class DemoApplication {
              public static void main(String[] args) { SpringApplication.run(DemoApplication.class, args); }
            }
        """,
        },
    )


def quarkus_maven(root: Path) -> None:
    write_files(
        root,
        {
            "pom.xml": """
            <project>
              <artifactId>greeter</artifactId>
              <properties><maven.compiler.release>17</maven.compiler.release></properties>
              <dependencies>
                <dependency><groupId>io.quarkus</groupId><artifactId>quarkus-rest</artifactId></dependency>
              </dependencies>
            </project>
        """,
            "src/main/resources/application.properties": "quarkus.http.port=8085\n",
            "src/main/java/org/acme/GreetingResource.java": 'package org.acme;\n@Path("/hello")\npublic class GreetingResource {}\n',
        },
    )


def micronaut_gradle(root: Path) -> None:
    write_files(
        root,
        {
            "build.gradle": """
            plugins { id("io.micronaut.application") version "4.4.0" }
            dependencies { implementation("io.micronaut:micronaut-http-server-netty") }
            java { toolchain { languageVersion = JavaLanguageVersion.of(17) } }
        """,
            "gradlew": "#!/bin/sh\n",
            "src/main/java/example/Application.java": "package example;\npublic class Application { public static void main(String[] a) { Micronaut.run(Application.class, a); } }\n",
        },
    )


def aspnet_app(root: Path) -> None:
    write_files(
        root,
        {
            "Api.csproj": """
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup><TargetFramework>net8.0</TargetFramework></PropertyGroup>
              <ItemGroup><PackageReference Include="Npgsql" Version="8.0.3" /></ItemGroup>
            </Project>
        """,
            "Program.cs": """
            var builder = WebApplication.CreateBuilder(args);
            var app = builder.Build();
            var key = Environment.GetEnvironmentVariable("STRIPE_API_KEY");
            app.MapGet("/health", () => "ok");
            app.Run();
        """,
        },
    )


# --- Ruby, PHP, Rust, Elixir, Deno --------------------------------------------------------


def rails_app(root: Path) -> None:
    write_files(
        root,
        {
            "Gemfile": 'source "https://rubygems.org"\nruby "3.3.1"\ngem "rails", "~> 7.1"\ngem "pg"\ngem "puma"\n',
            "config/application.rb": "module Blog\n  class Application < Rails::Application\n  end\nend\n",
            "config/routes.rb": 'Rails.application.routes.draw do\n  get "up" => "rails/health#show", as: :rails_health_check\nend\n',
            "config/puma.rb": 'port ENV.fetch("PORT") { 3000 }\n',
            "config/database.yml": "production:\n  url: <%= ENV['DATABASE_URL'] %>\n",
        },
    )


def sinatra_app(root: Path) -> None:
    write_files(
        root,
        {
            "Gemfile": "source 'https://rubygems.org'\ngem 'sinatra'\n",
            ".ruby-version": "3.2.2\n",
            "app.rb": """
            require 'sinatra'
            set :bind, '0.0.0.0'
            get '/' do
              ENV.fetch('GREETING', 'hello')
            end
        """,
        },
    )


def rack_app(root: Path) -> None:
    write_files(
        root,
        {
            "Gemfile": "source 'https://rubygems.org'\ngem 'rack'\n",
            "config.ru": "run ->(env) { [200, {'content-type' => 'text/plain'}, ['ok']] }\n",
        },
    )


def php_plain(root: Path) -> None:
    write_files(
        root,
        {
            "index.php": "<?php\n$name = getenv('APP_NAME');\necho 'Hello';\n",
            "about.php": "<?php echo 'about';\n",
        },
    )


def laravel_app(root: Path) -> None:
    write_files(
        root,
        {
            "composer.json": json.dumps(
                {"require": {"php": "^8.2", "laravel/framework": "^11.0"}}, indent=2
            ),
            "artisan": "#!/usr/bin/env php\n<?php\n",
            "public/index.php": "<?php require __DIR__.'/../bootstrap/app.php';\n",
            ".env.example": "APP_NAME=Laravel\nAPP_KEY=\nDB_CONNECTION=mysql\nDB_PASSWORD=secret\n",
            "routes/web.php": "<?php\nRoute::get('/', fn () => view('welcome'));\n",
        },
    )


def rust_actix_loopback(root: Path) -> None:
    write_files(
        root,
        {
            "Cargo.toml": '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nactix-web = "4"\n',
            "rust-toolchain.toml": '[toolchain]\nchannel = "1.78.0"\n',
            "src/main.rs": """
            use actix_web::{web, App, HttpServer};
            #[actix_web::main]
            async fn main() -> std::io::Result<()> {
                HttpServer::new(|| App::new()).bind(("127.0.0.1", 8080))?.run().await
            }
        """,
        },
    )


def rust_axum(root: Path) -> None:
    write_files(
        root,
        {
            "Cargo.toml": '[package]\nname = "svc"\nversion = "0.1.0"\n\n[dependencies]\naxum = "0.7"\ntokio = { version = "1", features = ["full"] }\nsqlx = { version = "0.7", features = ["postgres"] }\n',
            "src/main.rs": """
            #[tokio::main]
            async fn main() {
                let db = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://localhost/app".into());
                let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await.unwrap();
                axum::serve(listener, app).await.unwrap();
            }
        """,
        },
    )


def rust_rocket(root: Path) -> None:
    write_files(
        root,
        {
            "Cargo.toml": '[package]\nname = "rocketapp"\nversion = "0.1.0"\n\n[dependencies]\nrocket = "0.5"\n',
            "src/main.rs": '#[macro_use] extern crate rocket;\n#[get("/")]\nfn index() -> &\'static str { "hi" }\n#[launch]\nfn rocket() -> _ { rocket::build().mount("/", routes![index]) }\n',
        },
    )


def rust_warp(root: Path) -> None:
    write_files(
        root,
        {
            "Cargo.toml": '[package]\nname = "w"\nversion = "0.1.0"\n\n[dependencies]\nwarp = "0.3"\n',
            "src/main.rs": "#[tokio::main]\nasync fn main() {\n    warp::serve(routes).run(([0, 0, 0, 0], 3030)).await;\n}\n",
        },
    )


def phoenix_app(root: Path) -> None:
    write_files(
        root,
        {
            "mix.exs": """
            defmodule Hello.MixProject do
              use Mix.Project
              def project, do: [app: :hello, elixir: "~> 1.15", deps: deps()]
              defp deps do
                [{:phoenix, "~> 1.7.12"}, {:postgrex, ">= 0.0.0"}]
              end
            end
        """,
            "config/runtime.exs": """
            import Config
            config :hello, HelloWeb.Endpoint,
              http: [ip: {0, 0, 0, 0}, port: String.to_integer(System.get_env("PORT") || "4000")],
              secret_key_base: System.fetch_env!("SECRET_KEY_BASE")
        """,
            "lib/hello_web/router.ex": "defmodule HelloWeb.Router do\nend\n",
        },
    )


def deno_app(root: Path) -> None:
    write_files(
        root,
        {
            "deno.json": '{"tasks": {"dev": "deno run --watch main.ts"}}\n',
            "main.ts": 'Deno.serve({ port: 8000, hostname: "0.0.0.0" }, (_req) => new Response("Hello"));\n',
        },
    )


# --- Static, Docker, monorepo -------------------------------------------------------------


def static_site(root: Path) -> None:
    write_files(
        root,
        {
            "index.html": "<!doctype html><title>Site</title><link rel=stylesheet href=style.css>\n",
            "style.css": "body { margin: 0 }\n",
            "img/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
        },
    )


def dockerfile_flask(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "flask\ngunicorn\n",
            "app.py": "from flask import Flask\napp = Flask(__name__)\n",
            "Dockerfile": """
            FROM python:3.12-slim
            WORKDIR /app
            COPY . .
            RUN pip install -r requirements.txt
            ENV PORT=8080
            EXPOSE 8080
            CMD ["gunicorn", "--bind", "0.0.0.0:8080", "app:app"]
        """,
        },
    )


def compose_express(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"start": "node index.js"}, dependencies={"express": "^4"}
            ),
            "index.js": "const app = require('express')();\napp.listen(process.env.PORT || 3000);\n",
            "docker-compose.yml": """
            services:
              web:
                build: .
                ports:
                  - "8080:3000"
                environment:
                  DATABASE_URL: postgres://app:secret@db:5432/app
                  REDIS_URL: redis://cache:6379
              db:
                image: postgres:16
              cache:
                image: redis:7-alpine
        """,
        },
    )


def dockerfile_only(root: Path) -> None:
    write_files(
        root,
        {
            "Dockerfile": "FROM nginx:alpine\nCOPY html /usr/share/nginx/html\nEXPOSE 80\n",
            "html/readme.txt": "placeholder\n",
        },
    )


def monorepo(root: Path) -> None:
    fastapi_uvicorn(root / "api")
    nextjs_app(root / "web")
    write_files(
        root,
        {
            "README.md": "# Monorepo\n",
            "docs/index.html": "<h1>Docs</h1>\n",
        },
    )


# --- Not services -------------------------------------------------------------------------


def python_library(root: Path) -> None:
    write_files(
        root,
        {
            "pyproject.toml": '[project]\nname = "tinylib"\nversion = "1.0"\ndependencies = ["attrs"]\n',
            "src/tinylib/__init__.py": "def add(a, b):\n    return a + b\n",
            "tests/test_add.py": "from tinylib import add\n",
        },
    )


def python_cli(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "click\n",
            "cli.py": """
            import click

            @click.command()
            @click.option("--name")
            def main(name):
                click.echo(name)

            if __name__ == "__main__":
                main()
        """,
        },
    )


def celery_worker(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "celery[redis]\nredis\n",
            "tasks.py": "from celery import Celery\napp = Celery('tasks', broker='redis://localhost')\n\n@app.task\ndef add(x, y):\n    return x + y\n",
        },
    )


def discord_bot(root: Path) -> None:
    write_files(
        root,
        {
            "requirements.txt": "discord.py\n",
            "bot.py": "import os\nimport discord\nclient = discord.Client(intents=discord.Intents.default())\nclient.run(os.environ['DISCORD_TOKEN'])\n",
        },
    )


def notebook_only(root: Path) -> None:
    write_files(
        root,
        {
            "analysis.ipynb": json.dumps({"cells": [], "nbformat": 4}),
            "data/readme.md": "data\n",
        },
    )


def empty_repo(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)


def node_library(root: Path) -> None:
    write_files(
        root,
        {
            "package.json": _pkg(main="index.js", dependencies={"lodash": "^4"}),
            "index.js": "module.exports = function add(a, b) { return a + b }\n",
        },
    )


# --- Classes seen in real repositories (our own reproductions of each pattern) -------------


def go_router_internal_server(root: Path) -> None:
    # A router on net/http; main calls a helper that starts the server in another package,
    # with the port from a helper that takes the fallback; a test starts its own server.
    write_files(
        root,
        {
            "go.mod": "module example.com/shop\n\ngo 1.21\n\nrequire github.com/gorilla/mux v1.8.1\n",
            "main.go": """
            package main

            import (
            \t"example.com/shop/internal/server"
            \t"example.com/shop/internal/util"
            )

            func main() {
            \tserver.Run(util.PortFromEnvOr("4100"))
            }
        """,
            "internal/util/port.go": """
            package util

            import "os"

            func PortFromEnvOr(fallback string) string {
            \tif v := os.Getenv("PORT"); v != "" {
            \t\treturn ":" + v
            \t}
            \treturn ":" + fallback
            }
        """,
            "internal/server/server.go": """
            package server

            import (
            \t"net/http"

            \t"github.com/gorilla/mux"
            )

            func Run(addr string) error {
            \tr := mux.NewRouter()
            \tsrv := &http.Server{Handler: r, Addr: addr}
            \treturn srv.ListenAndServe()
            }
        """,
            "internal/server/server_test.go": """
            package server

            import "net/http"

            func TestServe(t *testing.T) {
            \tgo http.ListenAndServe("127.0.0.1:9911", nil)
            }
        """,
        },
    )


def go_echo_cmp_or(root: Path) -> None:
    # Echo started on a variable not called `e`, its port from Go 1.22's cmp.Or fallback.
    write_files(
        root,
        {
            "go.mod": "module example.com/notes\n\ngo 1.22\n\nrequire github.com/labstack/echo/v4 v4.12.0\n",
            "main.go": """
            package main

            import (
            \t"cmp"
            \t"os"

            \t"github.com/labstack/echo/v4"
            )

            func main() {
            \tapi := echo.New()
            \tport := cmp.Or(os.Getenv("PORT"), "4200")
            \tapi.Logger.Fatal(api.Start(":" + port))
            }
        """,
        },
    )


def sinatra_quoted_port(root: Path) -> None:
    # Sinatra's settings written with strings: `set :port, "8080"` is still the port.
    write_files(
        root,
        {
            "Gemfile": "source 'https://rubygems.org'\ngem 'sinatra'\ngem 'puma'\n",
            "hello.rb": """
            require 'sinatra'
            configure do
              set :port, "8090"
              set :bind, '0.0.0.0'
            end

            get '/' do
              'hi'
            end
        """,
        },
    )


def phoenix_public_url_port(root: Path) -> None:
    # The prod config's `url:` is the public address behind TLS; `http:` is what it listens on.
    write_files(
        root,
        {
            "mix.exs": """
            defmodule Blog.MixProject do
              use Mix.Project
              def project, do: [app: :blog, elixir: "~> 1.10", deps: deps()]
              defp deps, do: [{:phoenix, "~> 1.4.0"}, {:plug_cowboy, "~> 2.0"}]
            end
        """,
            "config/prod.exs": """
            use Mix.Config

            config :blog, BlogWeb.Endpoint,
              url: [scheme: "https", host: "blog.example.org", port: 443],
              http: [port: {:system, "PORT"}],
              cache_static_manifest: "priv/static/cache_manifest.json"
        """,
            "lib/blog_web/endpoint.ex": "defmodule BlogWeb.Endpoint do\nend\n",
        },
    )


def flask_procfile_env_port(root: Path) -> None:
    # The Procfile's server binds whatever $PORT says on every interface; `python app.py`
    # (Flask's 5000) is not how it runs.
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.0\ngunicorn==21.2.0\n",
            "Procfile": "web: gunicorn -b :$PORT app:app\n",
            "app.py": """
            from flask import Flask

            app = Flask(__name__)

            @app.route("/")
            def index():
                return "ok"

            if __name__ == "__main__":
                app.run()
        """,
        },
    )


def hugo_site_in_subfolder(root: Path) -> None:
    # A Hugo site one folder down (theme as an empty submodule folder); the root's Dockerfile
    # builds it without exposing a port.
    write_files(
        root,
        {
            "README.md": "# My notes\n",
            "Dockerfile": "FROM alpine AS build\nCOPY notes/ /src\nRUN hugo -s /src\n",
            "notes/hugo.toml": "baseURL = 'https://notes.example.org/'\ntitle = 'Notes'\ntheme = 'plain'\n",
            "notes/content/posts/hello.md": "---\ntitle: Hello\n---\nFirst post.\n",
            "notes/archetypes/default.md": "---\ntitle: ''\n---\n",
        },
    )
    (root / "notes/themes/plain").mkdir(parents=True)


def hugo_config_toml(root: Path) -> None:
    # Older Hugo sites name their config config.toml; content/ and layouts/ say it is Hugo's.
    write_files(
        root,
        {
            "config.toml": "baseURL = '/'\ntitle = 'Shop docs'\n",
            "content/_index.md": "# Welcome\n",
            "layouts/index.html": "<html>{{ .Content }}</html>\n",
        },
    )


def jekyll_pages_site(root: Path) -> None:
    # A GitHub Pages (Jekyll) site: its Gemfile is the site builder's, not a Ruby web app's.
    write_files(
        root,
        {
            "_config.yml": "title: Field guide\nmarkdown: kramdown\n",
            "Gemfile": "source 'https://rubygems.org'\n\ngem 'github-pages', group: :jekyll_plugins\ngem 'rake'\n",
            "index.md": "---\nlayout: default\n---\nHello\n",
            "_layouts/default.html": "<html>{{ content }}</html>\n",
        },
    )


def python_bot_pinned_deps(root: Path) -> None:
    # A chat bot whose pinned requirements list its client library's own dependencies,
    # aiohttp among them; nothing imports aiohttp and nothing listens.
    write_files(
        root,
        {
            "requirements.txt": "aiohttp==3.9.1\naiosignal==1.3.1\ndiscord.py==2.3.2\nyarl==1.9.4\n",
            "Procfile": "web: python bot.py\n",
            "bot.py": """
            import os

            import discord

            client = discord.Client(intents=discord.Intents.default())

            @client.event
            async def on_message(message):
                if message.content == "!ping":
                    await message.channel.send("pong")

            client.run(os.environ["BOT_TOKEN"])
        """,
        },
    )


def bun_serve(root: Path) -> None:
    # Bun's own HTTP server, no framework: the lockfile and Bun.serve say Bun.
    write_files(
        root,
        {
            "package.json": _pkg(
                module="server.ts",
                scripts={"start": "bun run server.ts"},
                devDependencies={"@types/bun": "latest"},
            ),
            "bun.lockb": b"#!/usr/bin/env bun\nbun-lockfile-format-v0\n\x00\x01\x02",
            "server.ts": """
            const server = Bun.serve({
              hostname: "0.0.0.0",
              port: Number(process.env.PORT ?? 4300),
              fetch(req) {
                return new Response("hello");
              },
            });
            console.log(`on ${server.port}`);
        """,
        },
    )


def php_web_docroot(root: Path) -> None:
    # Plain PHP whose document root is web/ (the Procfile says so); the app is the repository.
    write_files(
        root,
        {
            "composer.json": "{}\n",
            "Procfile": "web: heroku-php-nginx web/\n",
            "web/index.php": "<?php\necho 'Hello ' . htmlspecialchars($_GET['name'] ?? 'world');\n",
            "web/about.php": "<?php\necho 'about';\n",
        },
    )


def laravel_apache_dockerfile(root: Path) -> None:
    # Laravel whose own Dockerfile serves it with Apache (the image listens on 80, no EXPOSE).
    write_files(
        root,
        {
            "composer.json": json.dumps({"require": {"php": "^8.2", "laravel/framework": "^11.0"}}),
            "artisan": "#!/usr/bin/env php\n<?php\n",
            "public/index.php": "<?php\nrequire __DIR__.'/../vendor/autoload.php';\n",
            "Dockerfile": """
            FROM composer:2 AS vendor
            COPY . /app
            RUN composer install --no-dev --working-dir=/app

            FROM php:8.3-apache
            ENV APACHE_DOCUMENT_ROOT=/var/www/html/public
            COPY --from=vendor /app /var/www/html
            RUN a2enmod rewrite
        """,
        },
    )


def rocket_toml_and_test_numbers(root: Path) -> None:
    # Rocket's own config file sets the port; a test module's (name, age) tuples are not ports.
    write_files(
        root,
        {
            "Cargo.toml": '[package]\nname = "guestbook"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nrocket = "0.5.1"\n',
            "Rocket.toml": '[default]\nlog_level = "normal"\n\n[release]\naddress = "0.0.0.0"\nport = 8300\n',
            "src/main.rs": """
            #[macro_use]
            extern crate rocket;

            mod tests;

            #[get("/")]
            fn index() -> &'static str {
                "guestbook"
            }

            #[launch]
            fn rocket() -> _ {
                rocket::build().mount("/", routes![index])
            }
        """,
            "src/tests.rs": """
            #[cfg(test)]
            mod test {
                #[test]
                fn sorts_guests() {
                    let guests = vec![("ana", 31), ("bo", 42)];
                    assert_eq!(guests.len(), 2);
                }
            }
        """,
        },
    )


def python_cli_with_bench_server(root: Path) -> None:
    # A command-line tool; a benchmark helper under extras/ starts a throwaway HTTP server.
    write_files(
        root,
        {
            "pyproject.toml": """
            [project]
            name = "fetchy"
            version = "0.3.0"
            requires-python = ">=3.9"

            [project.scripts]
            fetchy = "fetchy.cli:main"
        """,
            "fetchy/__init__.py": "",
            "fetchy/cli.py": """
            import argparse
            import urllib.request

            def main():
                parser = argparse.ArgumentParser()
                parser.add_argument("url")
                args = parser.parse_args()
                print(urllib.request.urlopen(args.url).read()[:200])
        """,
            "extras/bench_server.py": """
            from http.server import BaseHTTPRequestHandler, HTTPServer

            class Quiet(BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.end_headers()

            server = HTTPServer(("localhost", 0), Quiet)
            server.serve_forever()
        """,
        },
    )


def express_platform_gated_host(root: Path) -> None:
    # Binds localhost unless a hosting platform's variable is present.
    write_files(
        root,
        {
            "package.json": _pkg(
                main="index.js",
                scripts={"start": "node index.js"},
                dependencies={"express": "^4.19.2"},
            ),
            "index.js": """
            const express = require("express");
            const app = express();
            const port = process.env.PORT || 3400;
            const host = ("FLY_APP_NAME" in process.env) ? "0.0.0.0" : "localhost";
            app.get("/", (req, res) => res.send("ok"));
            app.listen(port, host, () => console.log(`on ${host}:${port}`));
        """,
        },
    )


def flask_env_gated_host(root: Path) -> None:
    # The Python spelling: all interfaces only when a variable says it runs in production.
    write_files(
        root,
        {
            "requirements.txt": "flask\n",
            "app.py": """
            import os
            from flask import Flask

            app = Flask(__name__)

            if __name__ == "__main__":
                host = "0.0.0.0" if os.environ.get("APP_ENV") == "production" else "127.0.0.1"
                app.run(host=host, port=int(os.environ.get("PORT", 5100)))
        """,
        },
    )


def django_libpq_env(root: Path) -> None:
    # Railway/Heroku-style settings: the database comes from libpq's own PG* variables,
    # read with os.environ[...] (a KeyError when only DATABASE_URL is set), never DATABASE_URL.
    write_files(
        root,
        {
            "requirements.txt": "Django==5.0.6\ngunicorn==22.0.0\npsycopg[binary]==3.1.19\n",
            "manage.py": """
            import os
            import sys

            if __name__ == "__main__":
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_app.settings")
                from django.core.management import execute_from_command_line

                execute_from_command_line(sys.argv)
        """,
            "site_app/__init__.py": "",
            "site_app/wsgi.py": """
            import os

            from django.core.wsgi import get_wsgi_application

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_app.settings")
            application = get_wsgi_application()
        """,
            "site_app/settings.py": """
            import os

            SECRET_KEY = os.environ.get("SECRET_KEY", "dev")
            ROOT_URLCONF = "site_app.urls"
            DATABASES = {
                "default": {
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": os.environ["PGDATABASE"],
                    "USER": os.environ["PGUSER"],
                    "PASSWORD": os.environ["PGPASSWORD"],
                    "HOST": os.environ["PGHOST"],
                    "PORT": os.environ["PGPORT"],
                }
            }
        """,
            "site_app/urls.py": """
            from django.http import HttpResponse
            from django.urls import path

            urlpatterns = [path("", lambda request: HttpResponse("ok"))]
        """,
        },
    )


def flask_railway_json_start(root: Path) -> None:
    # railway.json names the start command (and the build step); `python app.py` is not how
    # it runs. Its server takes the port from $PORT.
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.0\ngunicorn==21.2.0\n",
            "railway.json": json.dumps(
                {
                    "$schema": "https://railway.example/railway.schema.json",
                    "build": {"builder": "NIXPACKS", "buildCommand": "python -m compileall ."},
                    "deploy": {
                        "startCommand": "gunicorn --bind 0.0.0.0:$PORT main:app",
                        "restartPolicyType": "ON_FAILURE",
                    },
                },
                indent=2,
            )
            + "\n",
            "main.py": """
            from flask import Flask

            app = Flask(__name__)

            @app.route("/")
            def index():
                return "ok"

            if __name__ == "__main__":
                app.run()
        """,
        },
    )


def node_railway_toml_start(root: Path) -> None:
    # railway.toml's [deploy] startCommand runs the built server, not `npm start`.
    write_files(
        root,
        {
            "package.json": _pkg(
                name="railway-toml-app",
                scripts={"start": "node dev.js", "bundle": "node build.js"},
                dependencies={"express": "^4.19.2"},
            ),
            "railway.toml": """
            [build]
            builder = "nixpacks"
            buildCommand = "npm run bundle"

            [deploy]
            startCommand = "node dist/server.js"
            healthcheckPath = "/"
        """,
            "build.js": "require('fs').mkdirSync('dist', { recursive: true });\n",
            "dev.js": "require('./src/server');\n",
            "src/server.js": """
            const express = require('express');
            const app = express();
            app.get('/', (req, res) => res.send('ok'));
            app.listen(process.env.PORT || 3000);
        """,
        },
    )


def flask_nixpacks_start(root: Path) -> None:
    # nixpacks.toml's [start] cmd is the author's start command.
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.0\nwaitress==3.0.0\n",
            "nixpacks.toml": """
            [phases.setup]
            nixPkgs = ["python311"]

            [start]
            cmd = "waitress-serve --listen=0.0.0.0:$PORT server:app"
        """,
            "server.py": """
            from flask import Flask

            app = Flask(__name__)

            @app.route("/")
            def index():
                return "ok"

            if __name__ == "__main__":
                app.run()
        """,
        },
    )


REAL_REPOSITORY_CLASSES: list[Fixture] = [
    Fixture(
        "express_platform_gated_host",
        express_platform_gated_host,
        "http-service",
        "node",
        "express",
        3400,
        "0.0.0.0",
        "npm start",
    ),
    Fixture(
        "flask_env_gated_host",
        flask_env_gated_host,
        "http-service",
        "python",
        "flask",
        5100,
        "0.0.0.0",
        ANY,
    ),
    Fixture(
        "rocket_toml_and_test_numbers",
        rocket_toml_and_test_numbers,
        "http-service",
        "rust",
        "rocket",
        8300,
        "0.0.0.0",
        "./target/release/guestbook",
    ),
    Fixture(
        "python_cli_with_bench_server",
        python_cli_with_bench_server,
        "not-a-service",
        "python",
        None,
        None,
        None,
        None,
        reason="console scripts",
    ),
    Fixture(
        "php_web_docroot", php_web_docroot, "http-service", "php", "php", 8080, "0.0.0.0", "-t web"
    ),
    Fixture(
        "laravel_apache_dockerfile",
        laravel_apache_dockerfile,
        "http-service",
        "php",
        "laravel",
        80,
        ANY,
        ANY,
    ),
    Fixture(
        "bun_serve", bun_serve, "http-service", "node", "bun", 4300, "0.0.0.0", "bun run start"
    ),
    Fixture(
        "python_bot_pinned_deps",
        python_bot_pinned_deps,
        "not-a-service",
        "python",
        None,
        None,
        None,
        None,
        reason="no file imports it",
    ),
    Fixture(
        "hugo_site_in_subfolder",
        hugo_site_in_subfolder,
        "http-service",
        "static",
        "hugo",
        80,
        None,
        None,
        app_root="notes",
    ),
    Fixture("hugo_config_toml", hugo_config_toml, "http-service", "static", "hugo", 80, None, None),
    Fixture(
        "jekyll_pages_site", jekyll_pages_site, "http-service", "static", "jekyll", 80, None, None
    ),
    Fixture(
        "flask_procfile_env_port",
        flask_procfile_env_port,
        "http-service",
        "python",
        "flask",
        8000,
        "0.0.0.0",
        "gunicorn -b :$PORT app:app",
    ),
    Fixture(
        "phoenix_public_url_port",
        phoenix_public_url_port,
        "http-service",
        "elixir",
        "phoenix",
        4000,
        None,
        "mix phx.server",
    ),
    Fixture(
        "go_router_internal_server",
        go_router_internal_server,
        "http-service",
        "go",
        "net/http",
        4100,
        None,
        "./server",
    ),
    Fixture("go_echo_cmp_or", go_echo_cmp_or, "http-service", "go", "echo", 4200, None, "./server"),
    Fixture(
        "sinatra_quoted_port",
        sinatra_quoted_port,
        "http-service",
        "ruby",
        "sinatra",
        8090,
        "0.0.0.0",
        "hello.rb",
    ),
    Fixture(
        "django_libpq_env",
        django_libpq_env,
        "http-service",
        "python",
        "django",
        8000,
        ANY,
        ANY,
        services=("postgres",),
    ),
    Fixture(
        "flask_railway_json_start",
        flask_railway_json_start,
        "http-service",
        "python",
        "flask",
        8000,
        "0.0.0.0",
        "gunicorn --bind 0.0.0.0:$PORT main:app",
    ),
    Fixture(
        "node_railway_toml_start",
        node_railway_toml_start,
        "http-service",
        "node",
        "express",
        3000,
        None,
        "node dist/server.js",
    ),
    Fixture(
        "flask_nixpacks_start",
        flask_nixpacks_start,
        "http-service",
        "python",
        "flask",
        8080,
        "0.0.0.0",
        "waitress-serve --listen=0.0.0.0:$PORT server:app",
    ),
]


# --- Classes the second real corpus showed (tests/corpus/more-repos.tsv) -------------------

_FLASK_SHOP = """
from flask import Flask

app = Flask(__name__)

@app.route("/")
def index():
    return "shop"
"""


def flask_gunicorn_config_file(root: Path) -> None:
    # The Procfile loads a gunicorn config file that holds the bind; the command has none.
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.3\ngunicorn==22.0.0\n",
            "Procfile": "web: gunicorn --worker-tmp-dir /dev/shm -c deploy/gunicorn_settings.py shop:app\n",
            "deploy/gunicorn_settings.py": '# read by the Procfile\nworkers = 3\nbind = "0.0.0.0:8200"\ntimeout = 30\n',
            "shop.py": _FLASK_SHOP,
        },
    )


def django_default_gunicorn_conf(root: Path) -> None:
    # gunicorn loads ./gunicorn.conf.py on its own: an IPv6 wildcard bind on $PORT or 8210.
    write_files(
        root,
        {
            "requirements.txt": "Django==5.0.6\ngunicorn==22.0.0\n",
            "Procfile": "web: gunicorn mysite.wsgi\n",
            "gunicorn.conf.py": """
            import os

            # every interface, IPv6 included
            bind = ["[::]:{}".format(os.environ.get("PORT", 8210))]
            workers = 2
        """,
            "manage.py": """
            import os
            import sys

            if __name__ == "__main__":
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
                from django.core.management import execute_from_command_line
                execute_from_command_line(sys.argv)
        """,
            "mysite/__init__.py": "",
            "mysite/settings.py": 'SECRET_KEY = "dev"\nROOT_URLCONF = "mysite.urls"\nALLOWED_HOSTS = ["*"]\n',
            "mysite/urls.py": "urlpatterns = []\n",
            "mysite/wsgi.py": """
            import os
            from django.core.wsgi import get_wsgi_application

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            application = get_wsgi_application()
        """,
        },
    )


def flask_render_blueprint(root: Path) -> None:
    # render.yaml lists a worker, then the web service whose startCommand runs the app.
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.3\ngunicorn==22.0.0\nrq==1.16.2\n",
            "render.yaml": """
            services:
              - type: worker
                name: jobs
                runtime: python
                buildCommand: pip install -r requirements.txt
                startCommand: rq worker
              - type: web
                name: shop
                runtime: python
                buildCommand: pip install -r requirements.txt
                startCommand: gunicorn shop:app
              - type: web
                name: docs
                runtime: static
                staticPublishPath: ./site
        """,
            "shop.py": _FLASK_SHOP,
        },
    )


def django_do_app_spec(root: Path) -> None:
    # A DigitalOcean app spec names the run command (and its port); no Procfile.
    write_files(
        root,
        {
            "requirements.txt": "Django==5.0.6\ngunicorn==22.0.0\n",
            ".do/app.yaml": """
            name: polls
            services:
            - name: web
              environment_slug: python
              build_command: python manage.py collectstatic --noinput
              run_command: gunicorn --bind 0.0.0.0:8300 mysite.wsgi
            jobs:
            - name: migrate
              kind: PRE_DEPLOY
              run_command: python manage.py migrate
        """,
            "manage.py": """
            import os
            import sys

            if __name__ == "__main__":
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
                from django.core.management import execute_from_command_line
                execute_from_command_line(sys.argv)
        """,
            "mysite/__init__.py": "",
            "mysite/settings.py": 'SECRET_KEY = "dev"\nROOT_URLCONF = "mysite.urls"\nALLOWED_HOSTS = ["*"]\n',
            "mysite/urls.py": "urlpatterns = []\n",
            "mysite/wsgi.py": """
            import os
            from django.core.wsgi import get_wsgi_application

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            application = get_wsgi_application()
        """,
        },
    )


def vue_cli_spa(root: Path) -> None:
    # A Vue CLI app built into the folder --dest names; `serve` is only how it was hosted.
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={
                    "build": "vue-cli-service build --dest site",
                    "start": "serve -s site -l tcp://0.0.0.0:${PORT:-8080}",
                },
                dependencies={"vue": "^3.4.0", "serve": "^14.2.0"},
                devDependencies={"@vue/cli-service": "~5.0.8"},
            ),
            "public/index.html": '<!doctype html><div id="app"></div>\n',
            "src/main.js": "import { createApp } from 'vue'\nimport App from './App.vue'\ncreateApp(App).mount('#app')\n",
            "src/App.vue": "<template><h1>Hello</h1></template>\n",
        },
    )


def svelte_rollup_spa(root: Path) -> None:
    # Svelte bundled by rollup into public/build/, next to the public/index.html it serves.
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"build": "rollup -c", "dev": "rollup -c -w", "start": "sirv public"},
                dependencies={"sirv-cli": "^2.0.0"},
                devDependencies={
                    "rollup": "^3.29.0",
                    "rollup-plugin-svelte": "^7.1.0",
                    "svelte": "^3.59.0",
                },
            ),
            "rollup.config.js": "export default { input: 'src/main.js', output: { file: 'public/build/bundle.js', format: 'iife' } };\n",
            "public/index.html": '<!doctype html><script defer src="/build/bundle.js"></script>\n',
            "src/main.js": "import App from './App.svelte';\nexport default new App({ target: document.body });\n",
            "src/App.svelte": "<h1>Hello</h1>\n",
        },
    )


def svelte_component_library(root: Path) -> None:
    # Svelte components published as a package: no build of a site, nothing to serve.
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"package": "svelte-package", "test": "vitest"},
                peerDependencies={"svelte": "^4.0.0"},
                devDependencies={"svelte": "^4.2.0", "@sveltejs/package": "^2.3.0"},
                svelte="./dist/index.js",
            ),
            "src/lib/Button.svelte": "<button><slot /></button>\n",
            "src/lib/index.js": "export { default as Button } from './Button.svelte';\n",
        },
    )


def astro_static_site(root: Path) -> None:
    # An Astro site with no server adapter: `astro build` writes static files to dist/.
    write_files(
        root,
        {
            "package.json": _pkg(
                type="module",
                scripts={"dev": "astro dev", "start": "astro dev", "build": "astro build"},
                dependencies={"astro": "^4.5.0"},
            ),
            "astro.config.mjs": "import { defineConfig } from 'astro/config';\nexport default defineConfig({});\n",
            "src/pages/index.astro": "---\nconst title = 'Hello';\n---\n<h1>{title}</h1>\n",
        },
    )


def warp_ipv6_array(root: Path) -> None:
    # warp bound to the IPv6 wildcard written as eight u16s, and a port of its own.
    write_files(
        root,
        {
            "Cargo.toml": '[package]\nname = "greeter"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\ntokio = { version = "1", features = ["full"] }\nwarp = "0.3"\n',
            "src/main.rs": """
            use warp::Filter;

            #[tokio::main]
            async fn main() {
                let routes = warp::any().map(|| "hi");
                warp::serve(routes)
                    .run(([0, 0, 0, 0, 0, 0, 0, 0], 8280))
                    .await;
            }
        """,
        },
    )


def slim_web_docroot(root: Path) -> None:
    # A Slim app: its front controller in web/, the docroot a Heroku Procfile names.
    write_files(
        root,
        {
            "composer.json": json.dumps(
                {"require": {"php": "^8.1", "slim/slim": "^4.12", "slim/psr7": "^1.6"}}, indent=2
            )
            + "\n",
            "Procfile": "web: heroku-php-apache2 web/\n",
            "web/index.php": "<?php\nrequire __DIR__ . '/../vendor/autoload.php';\n$app = Slim\\Factory\\AppFactory::create();\n$app->run();\n",
            "web/.htaccess": "RewriteEngine On\nRewriteRule ^ index.php [QSA,L]\n",
        },
    )


def flask_dockerfile_continuations(root: Path) -> None:
    # A Dockerfile whose RUN spans three lines: what follows is on later physical lines.
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.3\ngunicorn==22.0.0\n",
            "shop.py": _FLASK_SHOP,
            "Dockerfile": """
            FROM python:3.12-slim
            WORKDIR /app
            COPY requirements.txt .
            RUN pip install --no-cache-dir \\
                -r requirements.txt \\
             && useradd app
            COPY . .
            EXPOSE 8400
            CMD ["gunicorn", "--bind", "0.0.0.0:8400", "shop:app"]
        """,
        },
    )


def gin_indirect_mongo(root: Path) -> None:
    # gin pulls a MongoDB codec in as an indirect module; only go-redis is the app's own.
    write_files(
        root,
        {
            "go.mod": """
            module example.org/notes

            go 1.22

            require (
                github.com/gin-gonic/gin v1.10.0
                github.com/redis/go-redis/v9 v9.5.1
            )

            require (
                github.com/bytedance/sonic v1.11.6 // indirect
                go.mongodb.org/mongo-driver v1.15.0 // indirect
                github.com/lib/pq v1.10.9 // indirect
            )
        """,
            "main.go": """
            package main

            import (
                "os"

                "github.com/gin-gonic/gin"
                "github.com/redis/go-redis/v9"
            )

            func main() {
                _ = redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
                r := gin.Default()
                r.GET("/", func(c *gin.Context) { c.String(200, "notes") })
                r.Run(":8090")
            }
        """,
        },
    )


def rails_puma_env_gated_host(root: Path) -> None:
    # Puma binds the IPv6 wildcard only in production, loopback otherwise.
    rails_app(root)
    write_files(
        root,
        {
            "config/puma.rb": """
            threads 3, 3
            host = ENV.fetch("RAILS_ENV") { "development" } == "production" ? "::" : "::1"
            port(ENV.fetch("PORT") { 3000 }, host)
        """,
        },
    )


# --- What the second corpus still showed (issue 20) ----------------------------------------


def express_optional_mysql(root: Path) -> None:
    # MySQL only when MYSQL_HOST is set, SQLite otherwise (the switch is in its own module).
    write_files(
        root,
        {
            "package.json": _pkg(
                scripts={"start": "node src/server.js"},
                dependencies={"express": "^4.19.2", "mysql2": "^3.9.7", "sqlite3": "^5.1.7"},
            ),
            "src/server.js": """
            const express = require('express');
            const store = require('./store');
            const app = express();
            app.get('/', async (req, res) => res.json(await store.all()));
            store.init().then(() => app.listen(3100));
        """,
            "src/store/index.js": """
            // Pick the store: a MySQL server when one is configured, else a local file.
            if (process.env.MYSQL_HOST) module.exports = require('./mysql');
            else module.exports = require('./sqlite');
        """,
            "src/store/mysql.js": """
            const mysql = require('mysql2');
            const host = process.env.MYSQL_HOST;
            const password = process.env.MYSQL_PASSWORD;
            module.exports = { init: async () => mysql.createPool({ host, password }), all: async () => [] };
        """,
            "src/store/sqlite.js": """
            const sqlite3 = require('sqlite3');
            module.exports = { init: async () => new sqlite3.Database('/tmp/todo.db'), all: async () => [] };
        """,
        },
    )


def flask_optional_redis(root: Path) -> None:
    # Redis caches only when REDIS_URL is set; Postgres is always used.
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.3\ngunicorn==22.0.0\nredis==5.0.4\npsycopg2-binary==2.9.9\n",
            "shop.py": """
            import os

            import psycopg2
            from flask import Flask

            app = Flask(__name__)
            db = psycopg2.connect(os.environ["DATABASE_URL"])
            cache = None
            if os.environ.get("REDIS_URL"):
                import redis

                cache = redis.from_url(os.environ["REDIS_URL"])

            @app.route("/")
            def index():
                return "shop"
        """,
        },
    )


def flask_main_block_with_gunicorn(root: Path) -> None:
    # gunicorn is a requirement, no start command is declared, and app.py runs Flask's dev
    # server under __main__ (127.0.0.1:5000).
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.3\ngunicorn==22.0.0\n",
            "app.py": """
            from flask import Flask

            app = Flask(__name__)

            @app.route("/")
            def index():
                return "hello"

            if __name__ == "__main__":
                app.run()
        """,
        },
    )


def aspnet_dockerfile_linux(root: Path) -> None:
    # Only Dockerfile.linux and Dockerfile.windows: the Linux one is the repository's.
    write_files(
        root,
        {
            "Web.csproj": """
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup><TargetFramework>net8.0</TargetFramework></PropertyGroup>
            </Project>
        """,
            "Program.cs": """
            var builder = WebApplication.CreateBuilder(args);
            var app = builder.Build();
            app.MapGet("/", () => "hi");
            app.Run();
        """,
            "Dockerfile.linux": """
            FROM mcr.microsoft.com/dotnet/sdk:8.0 AS build
            WORKDIR /src
            COPY . .
            RUN dotnet publish -c Release -o /out
            FROM mcr.microsoft.com/dotnet/aspnet:8.0
            WORKDIR /app
            COPY --from=build /out .
            ENV ASPNETCORE_URLS=http://0.0.0.0:8500
            EXPOSE 8500
            ENTRYPOINT ["dotnet", "Web.dll"]
        """,
            "Dockerfile.windows": """
            FROM mcr.microsoft.com/dotnet/aspnet:8.0-nanoserver-ltsc2022
            EXPOSE 9999
            ENTRYPOINT ["dotnet", "Web.dll"]
        """,
        },
    )


def flask_compose_names_dockerfile(root: Path) -> None:
    # Two Dockerfile variants; the compose file says which one builds the app.
    write_files(
        root,
        {
            "requirements.txt": "Flask==3.0.3\ngunicorn==22.0.0\n",
            "shop.py": _FLASK_SHOP,
            "Dockerfile.dev": """
            FROM python:3.12-slim
            COPY . .
            RUN pip install -r requirements.txt
            EXPOSE 5000
            CMD ["flask", "--app", "shop", "run", "--host", "0.0.0.0"]
        """,
            "Dockerfile.prod": """
            FROM python:3.12-slim
            COPY . .
            RUN pip install -r requirements.txt
            EXPOSE 8600
            CMD ["gunicorn", "--bind", "0.0.0.0:8600", "shop:app"]
        """,
            "compose.yaml": """
            services:
              web:
                build:
                  context: .
                  dockerfile: Dockerfile.prod
        """,
        },
    )


def astro_node_adapter(root: Path) -> None:
    # Astro with @astrojs/node in standalone mode: a Node server, not a static site.
    write_files(
        root,
        {
            "package.json": _pkg(
                type="module",
                scripts={"dev": "astro dev", "start": "astro dev", "build": "astro build"},
                dependencies={"astro": "^4.5.0", "@astrojs/node": "^8.2.5"},
            ),
            "astro.config.mjs": """
            import { defineConfig } from 'astro/config';
            import node from '@astrojs/node';

            export default defineConfig({
              output: 'server',
              adapter: node({ mode: 'standalone' }),
            });
        """,
            "src/pages/index.astro": "---\nconst now = new Date();\n---\n<h1>{now.toISOString()}</h1>\n",
        },
    )


SECOND_CORPUS_CLASSES: list[Fixture] = [
    Fixture(
        "flask_gunicorn_config_file",
        flask_gunicorn_config_file,
        "http-service",
        "python",
        "flask",
        8200,
        "0.0.0.0",
        "-c deploy/gunicorn_settings.py shop:app",
    ),
    Fixture(
        "django_default_gunicorn_conf",
        django_default_gunicorn_conf,
        "http-service",
        "python",
        "django",
        8210,
        "0.0.0.0",
        "gunicorn mysite.wsgi",
    ),
    Fixture(
        "flask_render_blueprint",
        flask_render_blueprint,
        "http-service",
        "python",
        "flask",
        8000,
        ANY,
        "gunicorn shop:app",
    ),
    Fixture(
        "django_do_app_spec",
        django_do_app_spec,
        "http-service",
        "python",
        "django",
        8300,
        "0.0.0.0",
        "gunicorn --bind 0.0.0.0:8300 mysite.wsgi",
    ),
    Fixture("vue_cli_spa", vue_cli_spa, "http-service", "node", "vue", 80, None, None),
    Fixture(
        "svelte_rollup_spa", svelte_rollup_spa, "http-service", "node", "svelte", 80, None, None
    ),
    Fixture(
        "svelte_component_library",
        svelte_component_library,
        "not-a-service",
        "node",
        None,
        None,
        None,
        None,
        reason="no web framework",
    ),
    Fixture(
        "astro_static_site", astro_static_site, "http-service", "node", "astro", 80, None, None
    ),
    Fixture(
        "warp_ipv6_array",
        warp_ipv6_array,
        "http-service",
        "rust",
        "warp",
        8280,
        "0.0.0.0",
        "./target/release/greeter",
    ),
    Fixture(
        "slim_web_docroot",
        slim_web_docroot,
        "http-service",
        "php",
        "slim",
        8080,
        "0.0.0.0",
        "-t web",
    ),
    Fixture(
        "flask_dockerfile_continuations",
        flask_dockerfile_continuations,
        "http-service",
        "python",
        "flask",
        8400,
        "0.0.0.0",
        "gunicorn --bind 0.0.0.0:8400 shop:app",
    ),
    Fixture(
        "gin_indirect_mongo",
        gin_indirect_mongo,
        "http-service",
        "go",
        "gin",
        8090,
        ANY,
        ANY,
        services=("redis",),
    ),
    Fixture(
        "rails_puma_env_gated_host",
        rails_puma_env_gated_host,
        "http-service",
        "ruby",
        "rails",
        3000,
        "0.0.0.0",
        ANY,
    ),
]


SECOND_CORPUS_IMPERFECTIONS: list[Fixture] = [
    Fixture(
        "express_optional_mysql",
        express_optional_mysql,
        "http-service",
        "node",
        "express",
        3100,
        ANY,
        "npm start",
        services=("mysql",),
    ),
    Fixture(
        "flask_optional_redis",
        flask_optional_redis,
        "http-service",
        "python",
        "flask",
        5000,
        "0.0.0.0",
        "gunicorn shop:app",
        services=("postgres", "redis"),
    ),
    Fixture(
        "flask_main_block_with_gunicorn",
        flask_main_block_with_gunicorn,
        "http-service",
        "python",
        "flask",
        5000,
        "0.0.0.0",
        "gunicorn app:app --bind 0.0.0.0:",
    ),
    Fixture(
        "aspnet_dockerfile_linux",
        aspnet_dockerfile_linux,
        "http-service",
        "dotnet",
        "aspnetcore",
        8500,
        ANY,
        ANY,
    ),
    Fixture(
        "flask_compose_names_dockerfile",
        flask_compose_names_dockerfile,
        "http-service",
        "python",
        "flask",
        8600,
        "0.0.0.0",
        ANY,
    ),
    Fixture(
        "astro_node_adapter",
        astro_node_adapter,
        "http-service",
        "node",
        "astro",
        4321,
        ANY,
        "node ./dist/server/entry.mjs",
    ),
]

CORPUS: list[Fixture] = [
    Fixture(
        "flask_gunicorn",
        flask_gunicorn,
        "http-service",
        "python",
        "flask",
        5000,
        "0.0.0.0",
        "gunicorn app:app --bind 0.0.0.0:5000",
        services=("postgres",),
        health="/healthz",
    ),
    Fixture(
        "flask_subfolder_loopback",
        flask_subfolder_loopback,
        "http-service",
        "python",
        "flask",
        5000,
        "127.0.0.1",
        "python app.py",
        app_root="app",
    ),
    Fixture(
        "flask_with_cli",
        flask_with_cli,
        "http-service",
        "python",
        "flask",
        8000,
        "0.0.0.0",
        "python app.py",
    ),
    Fixture(
        "flask_procfile",
        flask_procfile,
        "http-service",
        "python",
        "flask",
        8000,  # gunicorn's default: the Procfile starts gunicorn, not Flask's server
        "0.0.0.0",
        "gunicorn wsgi:app --bind 0.0.0.0:$PORT",
        services=("redis",),
    ),
    Fixture(
        "flask_poetry_default_host",
        flask_poetry_default_host,
        "http-service",
        "python",
        "flask",
        5050,
        "127.0.0.1",
        "python main.py",
    ),
    Fixture(
        "fastapi_uvicorn",
        fastapi_uvicorn,
        "http-service",
        "python",
        "fastapi",
        8000,
        "0.0.0.0",
        "uvicorn main:app --host 0.0.0.0 --port 8000",
        services=("postgres",),
        health="/health",
    ),
    Fixture(
        "fastapi_pyproject_uv",
        fastapi_pyproject_uv,
        "http-service",
        "python",
        "fastapi",
        8080,
        "0.0.0.0",
        "python app/main.py",
    ),
    Fixture(
        "django",
        django_app,
        "http-service",
        "python",
        "django",
        8000,
        "0.0.0.0",
        "gunicorn mysite.wsgi:application --bind 0.0.0.0:8000",
        services=("postgres",),
    ),
    Fixture(
        "streamlit",
        streamlit_app,
        "http-service",
        "python",
        "streamlit",
        8501,
        "0.0.0.0",
        "streamlit run streamlit_app.py --server.port 8501",
    ),
    Fixture(
        "gradio", gradio_app, "http-service", "python", "gradio", 7860, "0.0.0.0", "python app.py"
    ),
    Fixture(
        "python_http_server",
        python_http_server,
        "http-service",
        "python",
        "http.server",
        8000,
        "0.0.0.0",
        "python server.py",
    ),
    Fixture(
        "express",
        express_app,
        "http-service",
        "node",
        "express",
        3000,
        None,
        "npm start",
        services=("postgres",),
        health="/api/health",
    ),
    Fixture(
        "fastify_loopback",
        fastify_loopback,
        "http-service",
        "node",
        "fastify",
        8080,
        "127.0.0.1",
        "node index.js",
    ),
    Fixture(
        "koa_pnpm",
        koa_pnpm,
        "http-service",
        "node",
        "koa",
        4000,
        None,
        "pnpm start",
        services=("redis",),
    ),
    Fixture("hono_bun", hono_bun, "http-service", "node", "hono", 3000, None, "bun run start"),
    Fixture("nest", nest_app, "http-service", "node", "nest", 3000, None, "npm start"),
    Fixture("nextjs", nextjs_app, "http-service", "node", "next", 3000, None, "npm start"),
    Fixture(
        "nuxt",
        nuxt_app,
        "http-service",
        "node",
        "nuxt",
        3000,
        None,
        "node .output/server/index.mjs",
    ),
    Fixture(
        "sveltekit", sveltekit_app, "http-service", "node", "sveltekit", 3000, None, "node build"
    ),
    Fixture("remix", remix_app, "http-service", "node", "remix", 3000, None, "npm start"),
    Fixture("vite_spa", vite_spa, "http-service", "node", "react", 80, None, None),
    Fixture("cra_spa", cra_spa, "http-service", "node", "create-react-app", 80, None, None),
    Fixture("angular_spa", angular_spa, "http-service", "node", "angular", 80, None, None),
    Fixture(
        "go_nethttp",
        go_nethttp,
        "http-service",
        "go",
        "net/http",
        8080,
        "0.0.0.0",
        "./server",
        health="/healthz",
    ),
    Fixture(
        "go_gin",
        go_gin,
        "http-service",
        "go",
        "gin",
        9000,
        "0.0.0.0",
        "./server",
        services=("redis",),
        health="/ping",
    ),
    Fixture("go_echo", go_echo, "http-service", "go", "echo", 1323, None, "./server"),
    Fixture(
        "go_chi_localhost",
        go_chi_localhost,
        "http-service",
        "go",
        "net/http",
        3333,
        "127.0.0.1",
        "./server",
    ),
    Fixture("go_fiber", go_fiber, "http-service", "go", "fiber", 3000, "0.0.0.0", "./server"),
    Fixture(
        "spring_maven",
        spring_maven,
        "http-service",
        "java",
        "spring-boot",
        8081,
        None,
        "java -jar target/demo-0.0.1-SNAPSHOT.jar",
        services=("postgres",),
        health="/actuator/health",
    ),
    Fixture(
        "quarkus_maven",
        quarkus_maven,
        "http-service",
        "java",
        "quarkus",
        8085,
        None,
        "quarkus-run.jar",
    ),
    Fixture(
        "micronaut_gradle",
        micronaut_gradle,
        "http-service",
        "java",
        "micronaut",
        8080,
        None,
        "java -jar build/libs",
    ),
    Fixture(
        "aspnet",
        aspnet_app,
        "http-service",
        "dotnet",
        "aspnetcore",
        8080,
        None,
        "dotnet out/Api.dll",
        services=("postgres",),
        health="/health",
    ),
    Fixture(
        "rails",
        rails_app,
        "http-service",
        "ruby",
        "rails",
        3000,
        "0.0.0.0",
        "bundle exec rails server",
        services=("postgres",),
        health="/up",
    ),
    Fixture(
        "sinatra",
        sinatra_app,
        "http-service",
        "ruby",
        "sinatra",
        4567,
        "0.0.0.0",
        "bundle exec ruby app.rb",
    ),
    Fixture("rack", rack_app, "http-service", "ruby", "rack", 9292, "0.0.0.0", "rackup"),
    Fixture(
        "php_plain", php_plain, "http-service", "php", "php", 8080, "0.0.0.0", "php -S 0.0.0.0:8080"
    ),
    Fixture(
        "laravel",
        laravel_app,
        "http-service",
        "php",
        "laravel",
        8000,
        "0.0.0.0",
        "php artisan serve",
        services=("mysql",),
    ),
    Fixture(
        "rust_actix_loopback",
        rust_actix_loopback,
        "http-service",
        "rust",
        "actix",
        8080,
        "127.0.0.1",
        "./target/release/hello",
    ),
    Fixture(
        "rust_axum",
        rust_axum,
        "http-service",
        "rust",
        "axum",
        3000,
        "0.0.0.0",
        "./target/release/svc",
        services=("postgres",),
    ),
    Fixture(
        "rust_rocket",
        rust_rocket,
        "http-service",
        "rust",
        "rocket",
        8000,
        "127.0.0.1",
        "./target/release/rocketapp",
    ),
    Fixture(
        "rust_warp",
        rust_warp,
        "http-service",
        "rust",
        "warp",
        3030,
        "0.0.0.0",
        "./target/release/w",
    ),
    Fixture(
        "phoenix",
        phoenix_app,
        "http-service",
        "elixir",
        "phoenix",
        4000,
        "0.0.0.0",
        "mix phx.server",
        services=("postgres",),
    ),
    Fixture("deno", deno_app, "http-service", "deno", "deno", 8000, "0.0.0.0", "deno run"),
    Fixture("static_site", static_site, "http-service", "static", "static", 80, None, None),
    Fixture(
        "dockerfile_flask",
        dockerfile_flask,
        "http-service",
        "python",
        "flask",
        8080,
        "0.0.0.0",
        "gunicorn --bind 0.0.0.0:8080 app:app",
    ),
    Fixture(
        "compose_express",
        compose_express,
        "http-service",
        "node",
        "express",
        3000,
        None,
        "npm start",
        services=("postgres", "redis"),
    ),
    Fixture("dockerfile_only", dockerfile_only, "http-service", "docker", None, 80, None, None),
    Fixture(
        "monorepo_api",
        monorepo,
        "http-service",
        "python",
        "fastapi",
        8000,
        "0.0.0.0",
        "uvicorn main:app",
        app_root="api",
        description="deploy the api",
    ),
    Fixture(
        "monorepo_web",
        monorepo,
        "http-service",
        "node",
        "next",
        3000,
        None,
        "npm start",
        app_root="web",
        description="Deploy the Next.js frontend from the web folder",
    ),
    Fixture(
        "monorepo_default",
        monorepo,
        "http-service",
        "python",
        "fastapi",
        8000,
        ANY,
        ANY,
        app_root="api",
        description="deploy it",
    ),
    Fixture(
        "python_library",
        python_library,
        "not-a-service",
        "python",
        None,
        None,
        None,
        None,
        reason="library",
    ),
    Fixture(
        "python_cli",
        python_cli,
        "not-a-service",
        "python",
        None,
        None,
        None,
        None,
        reason="cli.py:3 (click)",
    ),
    Fixture(
        "celery_worker",
        celery_worker,
        "not-a-service",
        "python",
        None,
        None,
        None,
        None,
        reason="Celery worker",
    ),
    Fixture(
        "discord_bot",
        discord_bot,
        "not-a-service",
        "python",
        None,
        None,
        None,
        None,
        reason="Discord bot",
    ),
    Fixture(
        "notebook_only",
        notebook_only,
        "not-a-service",
        None,
        None,
        None,
        None,
        None,
        reason="Jupyter notebooks",
    ),
    Fixture("empty", empty_repo, "not-a-service", None, None, None, None, None, reason="empty"),
    Fixture(
        "node_library",
        node_library,
        "not-a-service",
        "node",
        None,
        None,
        None,
        None,
        reason="library",
    ),
    Fixture(
        "go_cli_cobra", go_cli_cobra, "not-a-service", "go", None, None, None, None, reason="cobra"
    ),
    *REAL_REPOSITORY_CLASSES,
    *SECOND_CORPUS_CLASSES,
    *SECOND_CORPUS_IMPERFECTIONS,
]


def by_name(name: str) -> Fixture:
    """The corpus fixture with this name."""
    return next(f for f in CORPUS if f.name == name)


def build(fixture: Fixture, dest: Path) -> Path:
    """Write the fixture's repository into a new folder under dest and return that folder."""
    root = dest / fixture.name
    root.mkdir(parents=True, exist_ok=False)
    fixture.builder(root)
    return root

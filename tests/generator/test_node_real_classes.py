"""Node repositories as real ones come, through the analyzer and the generator.

Each fixture is our own small repository reproducing a class the real-repository corpus
showed (docs/corpus.md); the test names what a user would see go wrong without the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from services.analyzer.detect import analyze_repository
from services.generator.bundle import generate_bundle


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _dockerfile(root: Path) -> str:
    analysis = analyze_repository(root, description="deploy this app")
    return generate_bundle(analysis, job_id="node-classes")["Dockerfile"]


def _before_install(dockerfile: str, install: str) -> str:
    index = dockerfile.index(install)
    return dockerfile[:index]


def test_spa_with_cypress_dev_dependency_skips_the_cypress_download(tmp_path: Path) -> None:
    # A Vite SPA whose devDependencies hold Cypress: its postinstall downloads the Cypress
    # app from Cypress's own server, which fails `npm ci` wherever only the registry answers.
    root = _write(
        tmp_path,
        {
            "package.json": json.dumps(
                {
                    "name": "reader",
                    "scripts": {"dev": "vite", "build": "vite build"},
                    "dependencies": {"react": "^18.2.0", "react-dom": "^18.2.0"},
                    "devDependencies": {"vite": "^5.0.0", "cypress": "^13.0.0"},
                }
            ),
            "package-lock.json": "{}\n",
            "index.html": '<div id="root"></div><script type="module" src="/src/main.jsx">'
            "</script>\n",
            "src/main.jsx": "import React from 'react'\n",
        },
    )
    text = _dockerfile(root)
    assert "CYPRESS_INSTALL_BINARY=0" in _before_install(text, "RUN npm ci")


def test_server_with_cypress_dev_dependency_skips_the_download_in_its_build(
    tmp_path: Path,
) -> None:
    root = _write(
        tmp_path,
        {
            "package.json": json.dumps(
                {
                    "name": "shop",
                    "scripts": {"build": "tsc", "start": "node dist/server.js"},
                    "dependencies": {"express": "^4.19.0"},
                    "devDependencies": {"typescript": "^5.4.0", "cypress": "^13.0.0"},
                }
            ),
            "yarn.lock": "# yarn lockfile v1\n",
            "src/server.ts": "import express from 'express'\n"
            "express().listen(process.env.PORT || 3100)\n",
        },
    )
    text = _dockerfile(root)
    assert "CYPRESS_INSTALL_BINARY=0" in _before_install(text, "yarn install --frozen-lockfile")


def test_sveltekit_on_another_adapter_is_built_with_adapter_node(tmp_path: Path) -> None:
    # A SvelteKit app configured for a hosting platform's adapter: its build makes no
    # build/index.js, so `node build` died with MODULE_NOT_FOUND once deployed.
    root = _write(
        tmp_path,
        {
            "package.json": json.dumps(
                {
                    "name": "notes",
                    "type": "module",
                    "scripts": {"build": "vite build", "preview": "vite preview"},
                    "devDependencies": {
                        "@sveltejs/kit": "^2.5.0",
                        "@sveltejs/adapter-vercel": "^5.0.0",
                        "vite": "^5.0.0",
                    },
                }
            ),
            "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
            "svelte.config.js": "import adapter from '@sveltejs/adapter-vercel';\n"
            "export default { kit: { adapter: adapter() } };\n",
            "src/routes/+page.svelte": "<h1>notes</h1>\n",
        },
    )
    text = _dockerfile(root)
    swap = text.index('pnpm add -D "@sveltejs/adapter-node@$adapter_major"')
    assert text.index("COPY . .") < swap < text.index("pnpm build \\\n && pnpm prune --prod")
    assert "s#@sveltejs/adapter-[a-z-]+#@sveltejs/adapter-node#" in text
    assert text.rstrip().endswith('CMD ["sh", "-c", "exec node build"]')


def test_vite_2_builds_with_require_esm_off_where_node_has_it_on(tmp_path: Path) -> None:
    # Vite 2 loads vite.config.js through a require hook; Node 20.19+ sends the ESM config
    # to require(esm) instead, and `vite build` stops at "config must export or return an
    # object". Only a Vite 2 build on a Node with the switch turns it off.
    root = _write(
        tmp_path,
        {
            "package.json": json.dumps(
                {
                    "name": "board",
                    "scripts": {"dev": "vite", "build": "vite build"},
                    "dependencies": {"react": "^17.0.0"},
                    "devDependencies": {"vite": "^2.3.0"},
                }
            ),
            "package-lock.json": "{}\n",
            "vite.config.js": "import { defineConfig } from 'vite'\n"
            "export default defineConfig({})\n",
            "index.html": "<div id=root></div>\n",
        },
    )
    text = _dockerfile(root)
    build = text.index("npm run build")
    guard = text.index("require('vite/package.json').version")
    assert guard < build
    assert text.index('export NODE_OPTIONS="--no-experimental-require-module') < build
    assert "node --no-experimental-require-module -e 0" in text[guard:build]

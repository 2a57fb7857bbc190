"""Small web apps the end-to-end tests deploy."""

from __future__ import annotations

__all__ = [
    "CRASHING_APP",
    "DJANGO_APP",
    "EXPRESS_APP",
    "FLASK_APP",
    "FLASK_LIBPQ_APP",
    "FLASK_POSTGRES_APP",
    "FLASK_ROOT_APP",
    "PORT_FROM_SETTINGS_APP",
    "STATIC_SITE",
]

STATIC_SITE: dict[str, str | bytes] = {
    "index.html": "<!doctype html><title>hello</title><h1 id='hello'>Hello from autodeploy</h1>\n",
    "style.css": "h1 { color: teal; }\n",
}

# A Flask app at the repository root, pinned, that runs itself on $PORT (handler tests).
FLASK_ROOT_APP: dict[str, str | bytes] = {
    "requirements.txt": "flask==3.0.3\n",
    "app.py": (
        "import os\n"
        "from flask import Flask\n\n"
        "app = Flask(__name__)\n\n\n"
        "@app.get('/')\n"
        "def index():\n"
        "    return 'orders up'\n\n\n"
        "if __name__ == '__main__':\n"
        "    app.run(host='0.0.0.0', port=int(os.environ.get('PORT', 5000)))\n"
    ),
}

FLASK_APP: dict[str, str | bytes] = {
    "app/requirements.txt": "flask\n",
    "app/app.py": (
        "from flask import Flask\n\n"
        "app = Flask(__name__)\n\n\n"
        "@app.route('/')\n"
        "def index():\n"
        "    return 'hello from flask'\n\n\n"
        "if __name__ == '__main__':\n"
        "    app.run(host='127.0.0.1', port=5000)\n"
    ),
}

EXPRESS_APP: dict[str, str | bytes] = {
    "package.json": (
        '{\n  "name": "hello-express",\n  "version": "1.0.0",\n  "main": "server.js",\n'
        '  "scripts": {"start": "node server.js"},\n'
        '  "dependencies": {"express": "^4.19.2"}\n}\n'
    ),
    "server.js": (
        "const express = require('express');\n"
        "const app = express();\n"
        "const port = process.env.PORT || 3000;\n"
        "app.get('/', (req, res) => res.send('hello from express'));\n"
        "app.listen(port, () => console.log(`listening on port ${port}`));\n"
    ),
}

DJANGO_APP: dict[str, str | bytes] = {
    "requirements.txt": "Django>=4.2,<6\ngunicorn\n",
    "manage.py": (
        "#!/usr/bin/env python\nimport os\nimport sys\n\n"
        "if __name__ == '__main__':\n"
        "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
        "    from django.core.management import execute_from_command_line\n"
        "    execute_from_command_line(sys.argv)\n"
    ),
    "mysite/__init__.py": "",
    "mysite/settings.py": (
        "import os\n\n"
        "SECRET_KEY = os.environ.get('DJANGO_SECRET_KEY', 'dev-only-not-secret')\n"
        "DEBUG = False\n"
        "ALLOWED_HOSTS = os.environ.get('DJANGO_ALLOWED_HOSTS', 'localhost,127.0.0.1').split(',')\n"
        "ROOT_URLCONF = 'mysite.urls'\n"
        "INSTALLED_APPS = []\n"
        "MIDDLEWARE = []\n"
        "WSGI_APPLICATION = 'mysite.wsgi.application'\n"
    ),
    "mysite/urls.py": (
        "from django.http import HttpResponse\nfrom django.urls import path\n\n"
        "urlpatterns = [path('', lambda request: HttpResponse('hello from django'))]\n"
    ),
    "mysite/wsgi.py": (
        "import os\n\nfrom django.core.wsgi import get_wsgi_application\n\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
        "application = get_wsgi_application()\n"
    ),
}

# Needs a variable the analyzer cannot see (read through a list), so it crashes at start.
CRASHING_APP: dict[str, str | bytes] = {
    "requirements.txt": "flask\n",
    "app.py": (
        "import os\n\nfrom flask import Flask\n\n"
        "REQUIRED = ['PAYMENT_API_URL']\n"
        "config = {name: os.environ[name] for name in REQUIRED}\n\n"
        "app = Flask(__name__)\n\n\n"
        "@app.route('/')\n"
        "def index():\n"
        "    return 'paid'\n"
    ),
}

# Listens on a port from a settings file: the analyzer's first guess (http.server's
# default 8000) is wrong, the container's log says 7001, and the repair loop fixes it.
PORT_FROM_SETTINGS_APP: dict[str, str | bytes] = {
    "server.py": (
        "import json\nfrom http.server import HTTPServer, SimpleHTTPRequestHandler\n\n"
        "with open('settings.json') as fh:\n"
        "    PORT = json.load(fh)['listen']\n\n"
        "print(f'Serving HTTP on 0.0.0.0 port {PORT}', flush=True)\n"
        "HTTPServer(('0.0.0.0', PORT), SimpleHTTPRequestHandler).serve_forever()\n"
    ),
    "settings.json": '{"listen": 7001}\n',
    "index.html": "<h1>served on 7001</h1>\n",
}

# "Deploy this Flask app, it needs a Postgres": the analyzer finds the driver, the local
# target starts PostgreSQL beside the app and hands it DATABASE_URL.
FLASK_POSTGRES_APP: dict[str, str | bytes] = {
    "requirements.txt": "flask\npsycopg2-binary\n",
    "app.py": (
        "import os\n\nimport psycopg2\nfrom flask import Flask\n\n"
        "app = Flask(__name__)\n\n\n"
        "@app.route('/')\n"
        "def index():\n"
        "    with psycopg2.connect(os.environ['DATABASE_URL']) as conn, conn.cursor() as cur:\n"
        "        cur.execute('SELECT 40 + 2')\n"
        "        return f'db says {cur.fetchone()[0]}'\n"
    ),
}

# Railway/Heroku-style: libpq's PG* variables by name, read at start-up (KeyError if unset).
FLASK_LIBPQ_APP: dict[str, str | bytes] = {
    "requirements.txt": "flask\npsycopg2-binary\n",
    "app.py": (
        "import os\n\nimport psycopg2\nfrom flask import Flask\n\n"
        "DB = {\n"
        "    'host': os.environ['PGHOST'],\n"
        "    'port': os.environ['PGPORT'],\n"
        "    'user': os.environ['PGUSER'],\n"
        "    'password': os.environ['PGPASSWORD'],\n"
        "    'dbname': os.environ['PGDATABASE'],\n"
        "}\n"
        "app = Flask(__name__)\n\n\n"
        "@app.route('/')\n"
        "def index():\n"
        "    with psycopg2.connect(**DB) as conn, conn.cursor() as cur:\n"
        "        cur.execute('SELECT 40 + 2')\n"
        "        return f'libpq says {cur.fetchone()[0]}'\n"
    ),
}

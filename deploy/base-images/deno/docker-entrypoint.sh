#!/bin/sh
# `docker run IMAGE run main.ts` runs deno; `docker run IMAGE sh -c ...` runs sh.
set -e
case "${1:-}" in
    -*|add|bench|bundle|cache|check|clean|compile|completions|coverage|doc|eval|fmt|info \
        |init|install|jupyter|lint|lsp|outdated|publish|remove|repl|run|serve|task|test \
        |types|uninstall|upgrade|vendor)
        set -- deno "$@" ;;
esac
exec "$@"

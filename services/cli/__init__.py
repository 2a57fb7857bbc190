"""The `autodeploy` command line: a client of the gateway's REST API."""

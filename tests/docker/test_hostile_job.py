"""A repository whose own Dockerfile ADDs a loopback URL: the job fails with the file and
line named, and nothing on the host's loopback is ever asked for (the whole system)."""

from __future__ import annotations


def test_repository_dockerfile_with_a_loopback_add_fails_its_job(
    make_stack, git_server, loopback_server
) -> None:
    url, requests = loopback_server
    repo = git_server.create_repo(
        "hostile-add",
        {
            "Dockerfile": (
                "FROM autodeploy-local/nginx:1.27-alpine\n"  # local: the build gets to the ADD
                f"ADD {url}/latest/meta-data/iam /usr/share/nginx/html/iam\n"
                "COPY index.html /usr/share/nginx/html/\n"
                "EXPOSE 80\n"
            ),
            "index.html": "<h1>hello</h1>\n",
        },
    )
    stack = make_stack()
    job_id = stack.submit(repo_url=repo, description="deploy this static site")
    job = stack.wait_job(job_id, timeout=240)

    assert job["status"] == "failed", job["status"]
    assert job["stage"] == "provisioner"
    assert "Dockerfile:2" in job["error"] and "host's network" in job["error"], job["error"]
    assert requests == []

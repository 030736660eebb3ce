"""First run: the site can only be claimed with the token from the server's log."""

import logging
import os
import subprocess
import sys

from blog import first_run
from blog.config import DEFAULT_SITE_URL
from blog.extensions import db
from blog.models import Role, User
from tests.live_servers import REPO, free_port

FORM = {
    "display_name": "Sam Owner",
    "email": "Owner@Example.com",
    "password": "a long enough password",
    "confirm": "a long enough password",
}


def test_every_page_leads_to_setup_until_the_site_is_claimed(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/setup")
    assert client.get("/healthz").status_code == 200


def test_setup_url_with_token_is_logged(app, client, caplog):
    with caplog.at_level(logging.WARNING):
        client.get("/")
    token = first_run.setup_token(app)
    assert any(f"http://blog.test/setup?token={token}" in line for line in caplog.messages)


def test_setup_refused_without_a_token(app, client):
    response = client.post("/setup", data={**FORM, "token": ""})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.query(User).count() == 0


def test_setup_refused_with_a_wrong_token(app, client):
    response = client.post("/setup", data={**FORM, "token": "guessed"})
    assert response.status_code == 403
    assert b"does not match" in response.data
    with app.app_context():
        assert db.session.query(User).count() == 0


def test_setup_with_the_token_creates_the_first_admin_and_signs_in(app, client):
    token = first_run.setup_token(app)
    page = client.get(f"/setup?token={token}")
    assert token.encode() in page.data  # the form is prefilled from the link
    response = client.post("/setup", data={**FORM, "token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")
    with app.app_context():
        admin = db.session.query(User).one()
        assert (admin.email, admin.role, admin.display_name) == (
            "owner@example.com",
            Role.ADMIN,
            "Sam Owner",
        )
    assert client.get("/admin/").status_code == 200
    assert not (first_run._token_path(app)).exists()  # the token is single-use


def test_setup_refused_once_a_user_exists(app, client, users):
    token = first_run.setup_token(app)
    response = client.post("/setup", data={**FORM, "token": token})
    assert response.status_code == 403
    assert b"already set up" in response.data
    with app.app_context():
        assert db.session.query(User).filter_by(email="owner@example.com").count() == 0


def test_setup_shows_password_problems_and_keeps_the_other_fields(app, client):
    token = first_run.setup_token(app)
    data = {**FORM, "token": token, "password": "short", "confirm": "short"}
    response = client.post("/setup", data=data)
    assert response.status_code == 400
    html = response.data.decode()
    assert "The password must be 10 to 200 characters long." in html
    assert 'value="Sam Owner"' in html


def test_an_unconfigured_site_logs_the_full_default_address_and_says_how_to_adapt_it(
    make_app, caplog
):
    """With SITE_URL unset the address is still logged in full (built from the default), with
    a note that says which setting makes it right when the blog is reached elsewhere."""
    app = make_app(SITE_URL=DEFAULT_SITE_URL)
    with caplog.at_level(logging.WARNING):
        app.test_client().get("/")
    token = first_run.setup_token(app)
    [line] = [line for line in caplog.messages if "/setup?token=" in line]
    assert f"first admin: {DEFAULT_SITE_URL}/setup?token={token}" in line
    assert "SITE_URL" in line


def test_serve_logs_the_address_the_readme_shows(tmp_path):
    """`flask --app blog serve`, as the README's first-run section runs it, prints the full
    setup address (host, port, token) in the README's words."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [example] = [line for line in readme.splitlines() if "one-time address to create" in line]
    port = free_port()
    env = {**os.environ, "BLOG_INSTANCE_PATH": str(tmp_path)}
    command = [sys.executable, "-m", "flask", "--app", "blog", "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        logged = ""
        while "/setup?token=" not in logged and server.poll() is None:
            logged = server.stderr.readline()
    finally:
        server.kill()
        server.wait(timeout=10)
        server.stderr.close()
    token = (tmp_path / first_run.TOKEN_FILE).read_text().strip()
    expected = example.replace("http://127.0.0.1:5000", f"http://127.0.0.1:{port}")
    assert logged.strip().endswith(expected.replace("…", token)), logged

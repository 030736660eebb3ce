"""`flask --app blog users ...`"""

from blog.accounts import find_user
from blog.models import Role


def _user(app, email):
    with app.app_context():
        return find_user(email)


def test_create_list_set_role_deactivate_reset_password(app, runner):
    result = runner.invoke(
        args=["users", "create", "--email", "Chief@Example.com", "--name", "Chief",
              "--role", "admin", "--password", "chief password 1"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Created admin chief@example.com" in result.output
    assert _user(app, "chief@example.com").check_password("chief password 1")

    result = runner.invoke(args=["users", "list"])
    assert "chief@example.com" in result.output and "admin" in result.output

    runner.invoke(
        args=["users", "create", "--email", "w@example.com", "--name", "W",
              "--password", "writer password"]
    )  # fmt: skip
    result = runner.invoke(args=["users", "set-role", "w@example.com", "editor"])
    assert result.exit_code == 0
    assert _user(app, "w@example.com").role == Role.EDITOR

    result = runner.invoke(args=["users", "reset-password", "w@example.com"],
                           input="new password 123\nnew password 123\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _user(app, "w@example.com").check_password("new password 123")

    result = runner.invoke(args=["users", "deactivate", "w@example.com"])
    assert result.exit_code == 0
    assert _user(app, "w@example.com").active is False
    assert "deactivated" in runner.invoke(args=["users", "list"]).output


def test_create_prompts_for_the_password(app, runner):
    result = runner.invoke(
        args=["users", "create", "--email", "p@example.com", "--name", "P"],
        input="prompted password\nprompted password\n",
    )
    assert result.exit_code == 0, result.output
    assert _user(app, "p@example.com").check_password("prompted password")


def test_bad_input_gives_a_clear_error_and_changes_nothing(app, runner):
    result = runner.invoke(
        args=["users", "create", "--email", "not-an-email", "--name", "X", "--password", "x" * 12]
    )
    assert result.exit_code == 1
    assert "not valid" in result.output
    result = runner.invoke(
        args=["users", "create", "--email", "s@example.com", "--name", "S", "--password", "short"]
    )
    assert "at least 10 characters" in result.output
    assert _user(app, "s@example.com") is None
    result = runner.invoke(args=["users", "set-role", "nobody@example.com", "admin"])
    assert result.exit_code == 1
    assert "No user has the email nobody@example.com" in result.output
    result = runner.invoke(args=["users", "set-role", "s@example.com", "king"])
    assert result.exit_code == 2  # click refuses the unknown role itself


def test_last_admin_cannot_be_deactivated(app, runner, users):
    result = runner.invoke(args=["users", "deactivate", users["admin"]["email"]])
    assert result.exit_code == 1
    assert "last active admin" in result.output

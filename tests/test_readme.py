"""The README keeps exactly two set-up commands, and CI runs the second one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    install_and_train, install_and_test = commands
    assert "lightning fit --config recipes/" in install_and_train
    recipe = install_and_train.split("--config ")[1].split()[0]
    assert (ROOT / recipe).exists()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci


def test_every_recipe_is_listed_in_the_zoo_table():
    readme = (ROOT / "README.md").read_text()
    for recipe in (ROOT / "recipes").glob("*.yaml"):
        assert recipe.stem in readme, f"{recipe.name} missing from the README zoo table"


def test_every_model_is_in_the_zoo_table():
    from translation_zoo import list_models

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Model zoo", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    named = {line.split("`")[1] for line in rows}
    missing = [m.name for m in list_models() if m.name not in named]
    assert not missing, f"models missing from the README zoo table: {missing}"

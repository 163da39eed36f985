"""`python manage.py startplugin NAME --type view|datasource [--directory DIR]`: write a
pip-installable Nocoflo plugin package with working code, a README and tests.

NAME `heatmap` gives the folder and distribution `nocoflo-heatmap`, the import package
`nocoflo_heatmap` and the plugin (and entry point) `heatmap_view` or `heatmap_datasource`; a
datasource plugin opens URLs of scheme `heatmap`. The files come from the templates in
plugins_app/plugin_template/ (`common/`, then the kind's own folder), with `{{ variable }}`
placeholders filled in.
"""

from __future__ import annotations

import keyword
import re
import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from plugins_app.manager import BUILTIN_PLUGINS

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "plugin_template"
KINDS = ("view", "datasource")
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
MAX_NAME_LENGTH = 40
PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")
TEMPLATE_SUFFIX = "-tpl"
# Template path parts renamed in the package: the import package's folder, and dotfiles (which
# package data globs would miss).
RENAMED = {"package": "{package}", "gitignore": ".gitignore"}
# Schemes the built-in datasources open: a plugin for one of them would never be chosen.
BUILTIN_SCHEMES = frozenset({"sqlite", "sqlite3", "postgresql", "postgres", "mysql", "mariadb"})


def plugin_variables(name: str, kind: str) -> dict[str, str]:
    """The names a plugin called `name` of this kind gets, as the templates' placeholders."""
    title = name.replace("_", " ").capitalize()
    descriptions = {
        "view": f"{title}: a Nocoflo view plugin",
        "datasource": f"{title}: a Nocoflo datasource plugin for {name}:// URLs",
    }
    return {
        "name": name,
        "kind": kind,
        "title": title,
        "class_name": "".join(part.capitalize() for part in name.split("_")),
        "package": f"nocoflo_{name}",
        "distribution": f"nocoflo-{name.replace('_', '-')}",
        "plugin_name": f"{name}_{kind}",
        "scheme": name,
        "description": descriptions[kind],
    }


def check_name(name: str, kind: str) -> None:
    """CommandError unless `name` makes a valid, unused plugin name of this kind."""
    if kind not in KINDS:
        raise CommandError(f"--type must be one of {', '.join(KINDS)}, not {kind!r}")
    if not NAME_PATTERN.match(name):
        raise CommandError(
            f"{name!r} is not a valid plugin name: use lowercase letters, digits and underscores, "
            "starting with a letter (e.g. heatmap or sales_map)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise CommandError(f"{name!r} is too long: at most {MAX_NAME_LENGTH} characters")
    if name.endswith("_") or "__" in name:
        raise CommandError(f"{name!r} is not a valid plugin name: no double or trailing '_'")
    if keyword.iskeyword(name):
        raise CommandError(f"{name!r} is a Python keyword; choose another name")
    builtin = {path.rsplit(".", 1)[-1] for path in BUILTIN_PLUGINS}  # table, sqlite, ...
    if name in builtin or (kind == "datasource" and name in BUILTIN_SCHEMES):
        raise CommandError(f"{name!r} is the name of a built-in plugin; choose another name")


def render(text: str, variables: dict[str, str]) -> str:
    """The template text with its `{{ variable }}` placeholders filled in."""

    def fill(match: re.Match) -> str:
        try:
            return variables[match.group(1)]
        except KeyError:
            raise CommandError(
                f"the template uses an unknown placeholder {match.group(0)}"
            ) from None

    return PLACEHOLDER.sub(fill, text)


def plugin_files(name: str, kind: str) -> dict[Path, str]:
    """The generated package: relative path -> text, the kind's templates over the common ones."""
    variables = plugin_variables(name, kind)
    files: dict[Path, str] = {}
    for layer in ("common", kind):
        root = TEMPLATE_DIR / layer
        for source in sorted(root.rglob(f"*{TEMPLATE_SUFFIX}")):
            parts = source.relative_to(root).with_name(source.name[: -len(TEMPLATE_SUFFIX)]).parts
            target = Path(*(RENAMED.get(part, part).format(**variables) for part in parts))
            files[target] = render(source.read_text(encoding="utf-8"), variables)
    if not files:
        raise CommandError(f"no plugin templates found in {TEMPLATE_DIR}")
    return files


def write_plugin(name: str, kind: str, directory: str | Path = ".") -> Path:
    """Write the package for plugin `name` of this kind into a new folder in `directory`;
    answers the folder. Refuses to touch a folder that exists."""
    check_name(name, kind)
    files = plugin_files(name, kind)
    folder = Path(directory).resolve() / plugin_variables(name, kind)["distribution"]
    if folder.exists():
        raise CommandError(f"{folder} exists already; remove it or choose another --directory")
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir()
    try:
        for relative, text in files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


class Command(BaseCommand):
    help = (
        "Create a pip-installable Nocoflo plugin package (a view or a datasource) with working "
        "code, a README and tests, in a new folder nocoflo-NAME."
    )
    # Writing files needs no working installation (a broken plugin must not stop it).
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("name", help="The plugin's short name, e.g. heatmap.")
        parser.add_argument(
            "--type", dest="kind", choices=KINDS, required=True, help="The kind of plugin."
        )
        parser.add_argument(
            "--directory",
            default=".",
            help="The folder in which the package folder nocoflo-NAME is created "
            "(default: the current folder).",
        )

    def handle(self, *args, **options):
        name, kind = options["name"], options["kind"]
        folder = write_plugin(name, kind, options["directory"])
        plugin_name = plugin_variables(name, kind)["plugin_name"]
        self.stdout.write(
            self.style.SUCCESS(f"Created the {kind} plugin {plugin_name!r} in {folder}")
        )
        self.stdout.write(
            "Next:\n"
            f"  cd {folder}\n"
            "  pip install -e .    (into the environment Nocoflo runs in)\n"
            "  pytest\n"
            f"  enable it in the admin (Plugins) or with NOCOFLO_ENABLED_PLUGINS={plugin_name}"
        )

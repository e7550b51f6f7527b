"""Layer rules of CONVENTIONS.md that a parser can enforce."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = [
    "accounts",
    "tenants",
    "vault",
    "audit",
    "rotation",
    "intake",
    "offboarding",
    "integrations",
]
INTERFACE_MODULES = {"views.py", "forms.py", "tasks.py", "api.py", "serializers.py", "urls.py"}


def interface_files() -> list[Path]:
    """Interface modules, and every module of an interface package such as views/."""
    packages = {name.removesuffix(".py") for name in INTERFACE_MODULES}
    return [
        path
        for app in APPS
        for path in [*(ROOT / app).glob("*.py"), *(ROOT / app).glob("*/*.py")]
        if (path.parent.name == app and path.name in INTERFACE_MODULES)
        or path.parent.name in packages
    ]


def test_interfaces_do_not_touch_the_orm_directly():
    offenders = []
    for path in interface_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "objects":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert interface_files()
    assert offenders == []


def test_only_the_vault_crypto_module_imports_cryptography():
    offenders = []
    for app in [*APPS, "config"]:
        for path in (ROOT / app).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(name.split(".")[0] == "cryptography" for name in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert set(offenders) == {"vault/crypto.py"}


def test_no_view_module_imports_another_apps_views():
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    parts = node.module.split(".")
                    if parts[-1] == "views" and parts[0] in APPS and parts[0] != app:
                        offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _layer_modules(app):
    """An app's services and selectors, each a module or a package of modules."""
    paths = []
    for layer in ("services", "selectors"):
        package = ROOT / app / layer
        module = ROOT / app / f"{layer}.py"
        paths += sorted(package.glob("*.py")) if package.is_dir() else [module]
    return [path for path in paths if path.exists()]


def test_services_and_selectors_take_keyword_only_arguments_with_an_actor():
    offenders = []
    for app in APPS:
        for path in _layer_modules(app):
            name = str(path.relative_to(ROOT / app))
            for node in ast.parse(path.read_text()).body:
                if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                    continue
                if node.args.args and node.name not in PUBLIC_HELPERS:
                    offenders.append(f"{app}/{name}:{node.name} takes positional arguments")
    assert offenders == []


# Pure helpers that act for nobody (formatting, role checks) may take positional arguments.
PUBLIC_HELPERS = {"require_role", "totp_uri", "base32_secret", "recording_failures"}

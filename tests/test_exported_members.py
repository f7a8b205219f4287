import ast
import inspect
import textwrap

import pytest

import flo_twilio
import flo_twilio.client
import flo_twilio.runner

# Exported values that are neither classes nor functions: no docstring of their own.
NOT_DEFS = {"__version__", "hookimpl", "DEFAULT_DEADLINE"}


def public(module):
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }


def test_exact_public_api():
    """Every export resolves (they are imported when first used) and nothing else is public."""
    assert [n for n in flo_twilio.__all__ if getattr(flo_twilio, n, None) is None] == []
    assert set(flo_twilio.__all__) == public(flo_twilio) | {"__version__"}
    assert set(flo_twilio.__all__) <= set(dir(flo_twilio))
    with pytest.raises(AttributeError):
        flo_twilio.NoSuchName  # noqa: B018
    assert len(flo_twilio.__all__) == len(set(flo_twilio.__all__))


def written_docstring(value) -> str | None:
    """The docstring in the source of a class or function: not one Python made up (a
    dataclass gets its signature as ``__doc__``) nor one inherited."""
    node = ast.parse(textwrap.dedent(inspect.getsource(value))).body[0]
    return ast.get_docstring(node)


@pytest.mark.parametrize(
    ("module", "name"),
    [(m, n) for m in (flo_twilio, flo_twilio.client) for n in m.__all__ if n not in NOT_DEFS],
)
def test_every_exported_class_and_function_has_a_docstring_of_its_own(module, name):
    assert written_docstring(getattr(module, name)), f"{module.__name__}.{name}"


def test_the_exports_that_are_not_classes_or_functions_are_known():
    others = {
        name
        for module in (flo_twilio, flo_twilio.client)
        for name in module.__all__
        if not inspect.isclass(v := getattr(module, name)) and not inspect.isfunction(v)
    }
    assert others == NOT_DEFS


def test_client_exports():
    assert set(flo_twilio.client.__all__) == public(flo_twilio.client)


def test_the_runner_exports_resolve_and_only_they_are_public():
    """``from flo_twilio.runner import Runner, ...``: every name resolves (imported when
    first used), and nothing else of the package is public."""
    runner = flo_twilio.runner
    assert [n for n in runner.__all__ if getattr(runner, n, None) is None] == []
    assert public(runner) <= set(runner.__all__)
    assert set(runner.__all__) <= set(dir(runner))
    with pytest.raises(AttributeError):
        runner.NoSuchName  # noqa: B018

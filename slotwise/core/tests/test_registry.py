import sys

import pytest

from slotwise.core.registry import Registry, UnknownProvider


class Dummy:
    def __init__(self, **options):
        self.options = options


def test_lazy_loading_imports_only_on_first_use():
    module = "slotwise.core.tests._lazy_provider"
    sys.modules.pop(module, None)
    registry = Registry("test", {"lazy": f"{module}.LazyProvider"})
    assert "lazy" in registry
    assert registry.kinds() == ["lazy"]
    assert module not in sys.modules  # registering imports nothing
    instance = registry.create("lazy", answer=42)
    assert module in sys.modules
    assert instance.answer == 42
    assert registry.get_class("lazy") is type(instance)


def test_broken_provider_does_not_break_others():
    registry = Registry("test", {"broken": "slotwise.does_not_exist.Provider"})
    registry.register("dummy", f"{__name__}.Dummy")
    assert registry.create("dummy", a=1).options == {"a": 1}
    with pytest.raises(ImportError):
        registry.get_class("broken")


def test_unknown_provider():
    registry = Registry("payment")
    with pytest.raises(UnknownProvider, match="no payment provider 'nope'"):
        registry.create("nope")
    assert "nope" not in registry
    assert list(registry) == []


def test_register_replaces_and_forgets_loaded_class():
    registry = Registry("test", {"x": f"{__name__}.Dummy"})
    assert registry.get_class("x") is Dummy
    registry.register("x", "slotwise.core.registry.Registry")
    assert registry.get_class("x") is Registry

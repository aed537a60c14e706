"""Every parameter key must be one that a node reads: a typo is an error, not a silent default.

Kedro validates a ``params:`` input against the pydantic model in its node's type hint, but
only for the pipelines a run executes, and a key that no node reads at all (``--params
temporal_split.test.end_date=…`` for ``temporal_splits``) is merged into the parameters and
ignored. ``check_parameter_keys`` walks the merged parameters (``conf/<env>/parameters*.yml``
and ``--params``) against what the nodes of *every* registered pipeline read, field by field
through their pydantic models, and stops the run at the first unknown key with the nearest
valid one. ``check_locations`` refuses a ``*_location`` parameter that does not name the file
the catalog actually reads (those parameters only name the file in messages).
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml
from pydantic import BaseModel

from diab_readmit.engine import EngineParams
from diab_readmit.errors import UserFixableError

PARAMS_PREFIX = "params:"

#: Parameters a hook reads rather than a node (``engine``: only a Dask run's pipelines read
#: it, but every environment may set it).
READ_BY_HOOKS: dict[str, Any] = {"engine": EngineParams}

#: Parameters that only *name* what a catalog dataset reads (in messages and logs), with
#: that dataset, its path field, and the global setting that moves it.
LOCATION_PARAMETERS: dict[str, tuple[str, str, str]] = {
    "raw_encounters_location": ("raw_encounters", "filepath", "paths.raw_encounters"),
    "new_encounters_location": ("new_encounters", "path", "paths.new_encounters"),
}


class UnknownParameterError(UserFixableError, KeyError):
    """A parameter key that no node of any pipeline reads."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class IneffectiveParameterError(UserFixableError, ValueError):
    """A parameter set to a value that cannot take effect."""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model ``annotation`` is (``X | None`` unwrapped), else None."""
    if get_origin(annotation) is Union or isinstance(annotation, types.UnionType):
        models = [_model_of(arg) for arg in get_args(annotation)]
        models = [m for m in models if m is not None]
        return models[0] if len(models) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _dict_value_model(annotation: Any) -> type[BaseModel] | None:
    """The model of the values of a ``dict[str, Model]`` annotation, else None."""
    if get_origin(annotation) is Union or isinstance(annotation, types.UnionType):
        found = [_dict_value_model(arg) for arg in get_args(annotation)]
        found = [m for m in found if m is not None]
        return found[0] if len(found) == 1 else None
    if get_origin(annotation) is dict and len(get_args(annotation)) == 2:
        return _model_of(get_args(annotation)[1])
    return None


def parameter_types(nodes: Iterable[Any]) -> dict[str, Any]:
    """Each ``params:`` key the nodes (or a hook) read, namespaces applied -> its type hint."""
    nodes = list(nodes)
    found: dict[str, Any] = dict(READ_BY_HOOKS)
    for node in nodes:
        try:
            hints = get_type_hints(node.func)
            names = list(inspect.signature(node.func).parameters)
        except (TypeError, ValueError, NameError):
            hints, names = {}, []
        inputs = node._inputs
        pairs = (
            inputs.items()
            if isinstance(inputs, dict)
            else zip(node.inputs, names, strict=False)
        )
        for name, argument in pairs:
            if not name.startswith(PARAMS_PREFIX):
                continue
            key = name.removeprefix(PARAMS_PREFIX)
            annotation = hints.get(argument, Any)
            if found.get(key, Any) is Any:
                found[key] = annotation
    # A namespaced node's inputs are namespaced too; without the mapping above they still
    # list every key read.
    for node in nodes:
        for name in node.inputs:
            if name.startswith(PARAMS_PREFIX):
                found.setdefault(name.removeprefix(PARAMS_PREFIX), Any)
    return found


def _children(annotation: Any, known_below: set[str]) -> dict[str, Any] | None:
    """The keys allowed below a key of type ``annotation`` -> their types.

    None: anything goes below (a free-form dict, a plain value, ``Any``).
    """
    model = _model_of(annotation)
    if model is not None:
        return {name: info.annotation for name, info in model.model_fields.items()}
    if known_below:
        return {key: Any for key in known_below}
    return None


def _unknown_key(
    path: list[str], key: str, allowed: Iterable[str], rest: str, source: str
) -> UnknownParameterError:
    valid = sorted(allowed)
    where = ".".join(path)
    nearest = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = (
        f"did you mean {'.'.join([*path, nearest[0]])}{rest}?"
        if nearest
        else f"valid keys{' under ' + where if where else ''}: {', '.join(valid)}."
    )
    return UnknownParameterError(
        f"Unknown parameter {'.'.join([*path, key])}{rest} in {source}: no node reads "
        f"it; {hint}"
    )


def check_parameter_keys(
    parameters: Mapping[str, Any],
    known: Mapping[str, Any],
    sources: Mapping[str, str] | str,
) -> None:
    """Raise ``UnknownParameterError`` for the first key of ``parameters`` nothing reads.

    Args:
        parameters: the parameters (a nested mapping).
        known: ``parameter_types`` of every registered pipeline's nodes.
        sources: where the parameters came from, for the message: one name (``--params``)
            or the file of each top-level key.
    """

    def walk(value: Any, path: list[str], annotation: Any) -> None:
        if not isinstance(value, Mapping):
            return
        prefix = ".".join(path)
        below = {
            key.removeprefix(f"{prefix}.").split(".")[0]
            if prefix
            else key.split(".")[0]
            for key in known
            if not prefix or key.startswith(f"{prefix}.")
        }
        allowed = _children(annotation, below)
        if allowed is None:
            value_model = _dict_value_model(annotation)
            if value_model is not None:
                for key, item in value.items():
                    walk(item, [*path, str(key)], value_model)
            return
        for raw_key, item in value.items():
            key = str(raw_key)
            if key not in allowed:
                rest = "".join(f".{k}" for k in _first_leaf(item))
                top = path[0] if path else key
                source = (
                    sources
                    if isinstance(sources, str)
                    else sources.get(top, "--params")
                )
                raise _unknown_key(path, key, allowed, rest, source)
            child = ".".join([*path, key])
            walk(item, [*path, key], known.get(child, allowed[key]))

    walk(parameters, [], None)


def _first_leaf(value: Any) -> list[str]:
    """The keys from ``value`` down to its first leaf, to show a whole mistyped path."""
    keys = []
    while isinstance(value, Mapping) and value:
        key, value = next(iter(value.items()))
        keys.append(str(key))
    return keys


def check_locations(
    parameters: Mapping[str, Any], catalog_config: Mapping[str, Any]
) -> None:
    """Raise ``IneffectiveParameterError`` if a ``*_location`` parameter names another path
    than the one its catalog dataset reads (the parameter cannot move the file)."""
    for name, (dataset, field, setting) in LOCATION_PARAMETERS.items():
        value = parameters.get(name)
        read = (catalog_config.get(dataset) or {}).get(field)
        if value is None or read is None or str(value) == str(read):
            continue
        raise IneffectiveParameterError(
            f"{name}={value} cannot take effect: the catalog dataset {dataset} reads {read}, "
            f"and {name} only names it in messages. Put the file at {read}, or set "
            f"{setting} in conf/base/globals.yml (it moves both)."
        )


#: ``${runtime_params:key, default}`` in a catalog file: a ``--params`` key the catalog reads.
_RUNTIME_PARAMETER = re.compile(r"\$\{runtime_params:\s*([^,}\s]+)")


def catalog_runtime_parameters(conf_source: str, envs: Iterable[str]) -> dict[str, Any]:
    """The ``--params`` keys the catalog files of ``envs`` read (``snapshot_id``, …)."""
    found: dict[str, Any] = {}
    for env in envs:
        for path in sorted((Path(conf_source) / env).glob("**/catalog*.y*ml")):
            for key in _RUNTIME_PARAMETER.findall(path.read_text(encoding="utf-8")):
                found[key] = Any
    return found


def parameter_files(conf_source: str, envs: Iterable[str]) -> dict[str, str]:
    """Each top-level parameter key -> the last ``parameters*.yml`` of ``envs`` setting it."""
    found: dict[str, str] = {}
    for env in envs:
        folder = Path(conf_source) / env
        for path in sorted(folder.glob("**/parameters*.y*ml")):
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if isinstance(content, dict):
                for key in content:
                    found[str(key)] = str(path.relative_to(Path(conf_source).parent))
    return found

"""Automatic names, shared by layers, models, optimizers and metrics (as Keras names them).

``to_snake_case("Conv2D") == "conv2d"``; ``unique_name("dense")`` gives ``"dense"``, then
``"dense_1"``, ``"dense_2"``, ... (one counter per base name, reset by ``clear_session``).
``did_you_mean`` and ``unexpected_keywords_message`` turn a misspelled name into a suggestion
(``Model(outpus=...)`` -> "Did you mean 'outputs'?"). This module imports nothing from the library,
so every room may use it.
"""
import re

_name_counters = {}


def to_snake_case(name):
    """Keras's class-name to layer-name rule: Conv2D -> conv2d, ReLU -> re_lu."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """"dense", then "dense_1", "dense_2", ... (one counter per base name, like Keras)."""
    count = _name_counters.get(base, 0)
    _name_counters[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Reset automatic names (``keras.backend.clear_session``)."""
    _name_counters.clear()


# -- suggestions for misspelled names ------------------------------------------------------------------
def closest_name(name, candidates, cutoff=0.6):
    """The candidate most similar to ``name`` (difflib ratio >= ``cutoff``, case-insensitive), or None."""
    import difflib
    if not isinstance(name, str):
        return None
    by_lower = {}
    for candidate in candidates:
        by_lower.setdefault(str(candidate).lower(), str(candidate))
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[matches[0]] if matches else None


def did_you_mean(name, candidates):
    """``" Did you mean 'adam'?"`` for the candidate closest to ``name``, else ``""`` (appendable to a message)."""
    match = closest_name(name, candidates)
    return f" Did you mean {match!r}?" if match is not None else ""


def keyword_names(cls, extra=()):
    """Every keyword the constructor of ``cls`` accepts: the named parameters of each ``__init__`` in
    its method resolution order (a subclass passes ``**kwargs`` on to its base), plus ``extra``."""
    import inspect
    names = set(extra)
    for klass in getattr(cls, "__mro__", (cls,)):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        names.update(p.name for p in parameters if p.name != "self"
                     and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return sorted(names)


def unexpected_keywords_message(owner, unexpected, valid):
    """``"Model: unexpected keyword argument(s) ['outpus']. Did you mean 'outputs'?"``.

    With several unknown names, each suggestion says which name it replaces:
    ``"... ['activaton', 'unit']. Did you mean 'activation' (for 'activaton'), 'units' (for 'unit')?"``.
    """
    names = sorted(unexpected)
    message = f"{owner}: unexpected keyword argument(s) {names}."
    pairs = [(name, closest_name(name, valid)) for name in names]
    pairs = [(name, match) for name, match in pairs if match is not None]
    if len(names) == 1 and pairs:
        message += f" Did you mean {pairs[0][1]!r}?"
    elif pairs:
        message += " Did you mean " + ", ".join(f"{match!r} (for {name!r})" for name, match in pairs) + "?"
    return message

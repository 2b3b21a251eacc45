"""HTML email templates: Jinja2 in a sandbox, with the rule language's names and babel formatting.

A file `templates/<name>.email.html` is an HTML template. It sees what a text template
sees — `contact`, `event`, `params`, `now` and every registered function — and a missing
key renders as nothing, like a missing path in an expression. Values are escaped unless
marked `| safe`. The filters (also callable as functions) format in the workspace's
locale and the contact's timezone:

    {% for item in event.cart.items %}{{ item.name }} {{ item.price | price }}{% endfor %}
    {{ event.at | date("long") }} {{ contact.score | number }} {{ price(80.5, "USD") }}

`check_html` finds every problem once, at check time; `HtmlTemplate` compiles the
template once and renders it many times.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, tzinfo
from typing import Any
from weakref import WeakKeyDictionary

from babel import UnknownLocaleError
from jinja2 import (
    ChainableUndefined,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_context,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from . import formats
from .checks import TEMPLATE_ROOTS
from .errors import RelanceError, did_you_mean
from .expressions import Scope
from .functions import Function, FunctionRegistry
from .values import zone_named

Position = tuple[int, int, str]  # line and column inside the template's source, message

# Context keys a template cannot write: they are not identifiers.
_LOCALE = "relance.locale"
_TIMEZONE = "relance.timezone"
_SCOPE = "relance.scope"
# Names Jinja defines inside for-loops and macros.
_JINJA_LOCALS = ("loop", "caller", "varargs", "kwargs")
_ONE_FILE = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


class RenderError(RelanceError):
    """An HTML template that failed while rendering: a sandbox violation or a failing call.

    The message starts with the template file and line. The engine turns it into a
    failed step; nothing is sent.
    """


# ---------------------------------------------------------------- values
class _Missing(ChainableUndefined):
    """A missing key, or a key holding none: renders empty and behaves like none in expressions.

    `event.cart.missing.x` is missing too; ordering comparisons with it are false and
    arithmetic with it is missing, instead of Jinja's UndefinedError.
    """

    __slots__ = ()

    def _false(self, other: Any) -> bool:
        return False

    def _missing(self, other: Any = None) -> _Missing:
        return self

    __lt__ = __le__ = __gt__ = __ge__ = _false
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _missing
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _missing
    __pow__ = __rpow__ = __pos__ = __neg__ = _missing


def _plain(value: Any) -> Any:
    """A missing key (Jinja's Undefined) as None, which functions and filters expect."""
    return None if isinstance(value, Undefined) else value


def _finalize(value: Any) -> Any:
    """What `{{ … }}` prints, as in text templates: none is empty, 80.0 is 80, 19.9 * 3 is 59.7."""
    return value if isinstance(value, str) else formats.plain(_plain(value))


def known_locale(name: str) -> bool:
    """True when babel can format in `name` (fr, fr_FR, fr-FR)."""
    try:
        formats.locale_named(name)
    except (UnknownLocaleError, ValueError, TypeError):
        return False
    return True


# ------------------------------------------------------- formatting filters
def _zone(context: Context) -> tzinfo:
    """The contact's timezone if it has a valid one, else the one `render` was given."""
    contact = context.get("contact")
    for name in (contact.get("timezone") if isinstance(contact, Mapping) else None, context.get(_TIMEZONE)):
        zone = zone_named(name)
        if zone is not None:
            return zone
    return UTC


@pass_context
def price(context: Context, value: Any, currency: Any = None) -> str:
    """`80.5 | price` → "80,50 €" in fr_FR; the currency is the argument, else the event's, else EUR."""
    currency = _plain(currency)
    code = currency if isinstance(currency, str) and currency else formats.default_currency(context.get("event"))
    return formats.price(_plain(value), code, context.get(_LOCALE))


@pass_context
def number(context: Context, value: Any, format: Any = None) -> str:
    """`1234.5 | number` → "1 234,5" in fr_FR; a babel pattern such as "#,##0.00" may follow."""
    return formats.number(_plain(value), _plain(format), context.get(_LOCALE))


@pass_context
def date_(context: Context, value: Any, format: Any = "medium") -> str:
    """`event.at | date("long")` → "2 mars 2026"; short, medium, long, full or a babel pattern."""
    return formats.day(_plain(value), _plain(format), context.get(_LOCALE), _zone(context))


@pass_context
def datetime_(context: Context, value: Any, format: Any = "medium") -> str:
    """`event.at | datetime("short")` → "02/03/2026 10:00", in the contact's timezone."""
    return formats.moment(_plain(value), _plain(format), context.get(_LOCALE), _zone(context))


FORMATTERS: dict[str, Callable[..., str]] = {"price": price, "number": number, "date": date_, "datetime": datetime_}


# ------------------------------------------------------------ environment
class _Sandbox(SandboxedEnvironment):
    """The sandbox, reading mappings as the rule language does.

    `event.cart.items` is the key `items`, never the dict method; a missing key, or one
    holding none, is `_Missing` (rendered empty). Reaching an unsafe attribute raises
    SecurityError at once instead of rendering empty, so an attempt fails the step visibly.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            return self._key(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping):
            return self._key(obj, argument)
        return super().getitem(obj, argument)

    def _key(self, obj: Mapping[Any, Any], key: Any) -> Any:
        try:
            value = obj[key]
        except (KeyError, TypeError):
            value = None
        return self.undefined(obj=obj, name=key) if value is None else value

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")


def _global(function: Function) -> Callable[..., Any]:
    """A registered function as a Jinja global: missing values arrive as None, the scope or `now`
    first if it asks."""
    impl = function.impl
    if function.uses_scope:
        @pass_context
        def with_scope(context: Context, *args: Any) -> Any:
            return impl(context.get(_SCOPE), *map(_plain, args))
        return with_scope
    if function.uses_now:
        @pass_context
        def with_now(context: Context, *args: Any) -> Any:
            return impl(_plain(context.get("now")), *map(_plain, args))
        return with_now

    def call(*args: Any) -> Any:
        return impl(*map(_plain, args))
    return call


def _is_none(value: Any) -> bool:
    """`is none` holds for a missing key too, as in expressions."""
    return _plain(value) is None


_environments: WeakKeyDictionary[FunctionRegistry, _Sandbox] = WeakKeyDictionary()


def _environment(functions: FunctionRegistry) -> _Sandbox:
    """One sandbox per function registry: the formatters and the functions as globals."""
    env = _environments.get(functions)
    if env is None:
        env = _Sandbox(autoescape=True, undefined=_Missing, finalize=_finalize)
        env.tests["none"] = _is_none
        env.filters.update(FORMATTERS)
        env.globals.update({f.name: _global(f) for f in functions})
        env.globals.update(FORMATTERS)  # the expression language's price(), date()… are their twins
        _environments[functions] = env
    return env


# ---------------------------------------------------------------- checks
def check_html(source: str, functions: FunctionRegistry) -> list[Position]:
    """Every problem in an HTML template, as (line, column, message) inside `source`.

    Syntax errors; names that are not contact, event, params, now, a function or a
    variable the template sets; unknown filters and tests; wrong arities; bad date
    formats; and include/extends/import, since a template is one file. Columns are
    found in the source line when the name appears there, else 1.
    """
    env = _environment(functions)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as error:
        return [(error.lineno, 1, f"HTML template does not parse: {error.message}")]
    problems = list(_Checker(env, source.splitlines(), functions).check(tree))
    if not problems:
        try:
            env.compile(tree)
        except TemplateSyntaxError as error:
            problems.append((error.lineno, 1, f"HTML template does not compile: {error.message}"))
    return problems


class _Checker:
    """One method per kind of node that can be wrong."""

    def __init__(self, env: _Sandbox, lines: list[str], functions: FunctionRegistry) -> None:
        self.env = env
        self.lines = lines
        self.functions = functions

    def check(self, tree: nodes.Template) -> Iterator[Position]:
        yield from self._names(tree)
        for node in tree.find_all((nodes.Filter, nodes.Test, nodes.Call, *_ONE_FILE)):
            yield from getattr(self, f"_{type(node).__name__}")(node)

    def _names(self, tree: nodes.Template) -> Iterator[Position]:
        # Scope-blind on purpose: a name set anywhere in the template is known everywhere
        # (a use outside its block renders empty rather than failing).
        declared = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        declared |= {m.name for m in tree.find_all(nodes.Macro)}
        known = {*TEMPLATE_ROOTS, *_JINJA_LOCALS, *self.env.globals, *declared}
        reported = set()
        for name in tree.find_all(nodes.Name):
            if name.ctx != "load" or name.name in known or name.name in reported:
                continue
            reported.add(name.name)
            suggestion = did_you_mean(name.name, [*TEMPLATE_ROOTS, *self.functions.names(), *FORMATTERS, *declared])
            yield self._at(name.lineno, rf"(?<![\w.]){re.escape(name.name)}\b",
                           f"unknown name '{name.name}'{suggestion}; in a template a name starts with "
                           f"{', '.join(TEMPLATE_ROOTS)}, or is a function")

    def _Filter(self, node: nodes.Filter) -> Iterator[Position]:
        if node.name not in self.env.filters:
            yield self._at(node.lineno, rf"\|\s*({re.escape(node.name)})\b",
                           f"unknown filter '{node.name}'{did_you_mean(node.name, self.env.filters)}")
        else:
            yield from self._date_format(node.name, node.args, node.lineno)

    def _Test(self, node: nodes.Test) -> Iterator[Position]:
        if node.name not in self.env.tests:
            yield self._at(node.lineno, rf"\bis\s+(?:not\s+)?({re.escape(node.name)})\b",
                           f"unknown test '{node.name}'{did_you_mean(node.name, self.env.tests)}")

    def _Call(self, node: nodes.Call) -> Iterator[Position]:
        if not isinstance(node.node, nodes.Name):
            return
        name = node.node.name
        if name in FORMATTERS:
            yield from self._date_format(name, node.args[1:], node.lineno)
        function = self.functions.get(name)
        if function is None or node.dyn_args or node.dyn_kwargs:
            return
        pattern = rf"(?<![\w.]){re.escape(name)}\s*\("
        if node.kwargs:
            yield self._at(node.lineno, pattern, f"{name}() takes no named arguments")
        elif not function.accepts(len(node.args)):
            yield self._at(node.lineno, pattern, f"{name}() takes {function.arity_text()}, not {len(node.args)}")

    def _date_format(self, name: str, args: list[nodes.Expr], lineno: int) -> Iterator[Position]:
        if name not in ("date", "datetime") or not args or not isinstance(args[0], nodes.Const):
            return
        problem = formats.date_pattern_problem(name, args[0].value)
        if problem:
            yield self._at(lineno, re.escape(repr(args[0].value)[1:-1]), problem)

    def _one_file(self, node: nodes.Node, tag: str) -> Iterator[Position]:
        yield self._at(node.lineno, rf"\{{%-?\s*({tag})\b",
                       f"'{tag}' is not available in an HTML template: a template is one file")

    def _Extends(self, node: nodes.Extends) -> Iterator[Position]:
        return self._one_file(node, "extends")

    def _Include(self, node: nodes.Include) -> Iterator[Position]:
        return self._one_file(node, "include")

    def _Import(self, node: nodes.Import) -> Iterator[Position]:
        return self._one_file(node, "import")

    def _FromImport(self, node: nodes.FromImport) -> Iterator[Position]:
        return self._one_file(node, "from")

    def _at(self, line: int, pattern: str, message: str) -> Position:
        """`message` at `line`, at the first match of `pattern` inside a tag there (else anywhere, else 1)."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        tags = [m.span() for m in re.finditer(r"\{\{.*?\}\}|\{%.*?%\}", text)]
        matches = list(re.finditer(pattern, text))
        inside = [m for m in matches if any(a <= m.start() < b for a, b in tags)]
        found = (inside or matches or [None])[0]
        if found is None:
            return line, 1, message
        group = 1 if found.re.groups else 0
        return line, found.start(group) + 1, message


# ------------------------------------------------------------- templates
class HtmlTemplate:
    """An HTML template compiled once; `render` fills it for one message.

    `source` has been through `check_html` (a template with problems raises
    TemplateSyntaxError here). `path` and `first_line` (the file line where `source`
    starts, after a `Subject:` line) let render errors point into the file.
    """

    __slots__ = ("_template", "first_line", "path", "source")

    def __init__(self, source: str, path: str, first_line: int, functions: FunctionRegistry) -> None:
        self.source = source
        self.path = path
        self.first_line = first_line
        env = _environment(functions)
        self._template = env.template_class.from_code(env, env.compile(source), env.make_globals(None), None)

    def __repr__(self) -> str:
        return f"HtmlTemplate({self.path}:{self.first_line})"

    def render(self, scope: Scope, locale: str, timezone: str) -> str:
        """The HTML for one message.

        `locale` formats prices, numbers and dates (the workspace's `locale`, e.g. fr_FR);
        dates are shown in the contact's `timezone` field when it is valid, else in
        `timezone` (the workspace's). Raises RenderError — with the file and line — when
        the template breaks the sandbox (`{{ ''.__class__ }}`), a call fails, or the
        locale is unknown; the caller fails the step instead of sending.
        """
        try:
            babel_locale = formats.locale_named(locale)
        except (UnknownLocaleError, ValueError, TypeError) as error:
            raise RenderError(f"{self.path}: unknown locale {locale!r}") from error
        try:
            return self._template.render({
                "contact": scope.contact, "event": scope.event, "params": scope.params, "now": scope.now,
                _LOCALE: babel_locale, _TIMEZONE: timezone, _SCOPE: scope,
            })
        except Exception as error:  # anything the template did: the step fails, the engine keeps running
            raise RenderError(f"{self.path}:{self._line(error)}: {_describe(error)}") from error

    def _line(self, error: BaseException) -> int:
        """The file line where rendering stopped: Jinja's rewritten traceback has template frames."""
        line = 1
        traceback = error.__traceback__
        while traceback is not None:
            if traceback.tb_frame.f_code.co_filename == "<template>":
                line = traceback.tb_lineno
            traceback = traceback.tb_next
        return self.first_line + line - 1


def _describe(error: Exception) -> str:
    if isinstance(error, SecurityError):
        return f"refused by the sandbox: {error}"
    return f"{type(error).__name__}: {error}"

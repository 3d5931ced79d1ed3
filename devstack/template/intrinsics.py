"""CloudFormation intrinsic functions, resolved by SAM CLI's maintained resolver.

SAM CLI (1.170, pinned in requirements-dev.txt) ships the CloudFormation language-extensions processor it
runs before `sam build` and `sam local`: parameters, pseudo parameters, conditions, ``Fn::If``, ``Fn::Sub``,
``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``, ``Fn::Base64``, ``Fn::Length``,
``Fn::ToJsonString`` and ``Fn::ForEach``. The local stack resolves with it in its strict mode and adds only
what a deployment knows and SAM CLI cannot: the physical names, ARNs and URLs of resources (``Ref`` and
``Fn::GetAtt`` of a resource, and ``${Resource}`` / ``${Resource.Attribute}`` inside ``Fn::Sub``), from a
:class:`ResourceSymbols`. Every intrinsic neither of them knows is refused by name, never left in place.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Protocol

from samcli.lib.cfn_language_extensions import (
    IntrinsicResolver,
    ProcessingPipeline,
    PseudoParameterValues,
    ResolutionMode,
    TemplateParsingProcessor,
    TemplateProcessingContext,
    check_using_language_extension,
    create_default_intrinsic_resolver,
)
from samcli.lib.cfn_language_extensions.exceptions import InvalidTemplateException, UnresolvableReferenceError
from samcli.lib.cfn_language_extensions.processors.foreach import ForEachProcessor
from samcli.lib.cfn_language_extensions.resolvers import (
    ConditionResolver,
    FnBase64Resolver,
    FnFindInMapResolver,
    FnIfResolver,
    FnJoinResolver,
    FnLengthResolver,
    FnRefResolver,
    FnSelectResolver,
    FnSplitResolver,
    FnSubResolver,
    FnToJsonStringResolver,
)
from samcli.lib.cfn_language_extensions.resolvers.base import IntrinsicFunctionResolver

# PseudoParameterValues: the local stack's pseudo parameters are one (devstack.template.PSEUDO).
__all__ = ["IntrinsicError", "Intrinsics", "PseudoParameterValues", "ResourceSymbols", "expand_language_extensions"]

NO_VALUE = "AWS::NoValue"


class IntrinsicError(Exception):
    """An intrinsic function the local stack cannot resolve; the message names it."""


class ResourceSymbols(Protocol):
    """What a resource's ``Ref`` and ``Fn::GetAtt`` answer on this stack."""

    def is_resource(self, logical_id: str) -> bool: ...

    def ref(self, logical_id: str) -> Any: ...

    def get_att(self, logical_id: str, attribute: str) -> Any: ...


def expand_language_extensions(
    template: dict[str, Any], parameters: Mapping[str, Any], pseudo: PseudoParameterValues
) -> dict[str, Any]:
    """``template`` with its ``Fn::ForEach`` loops unrolled by SAM CLI's processor, when it declares the
    AWS::LanguageExtensions transform (CloudFormation refuses the loops otherwise, and so does this).

    The loops, and ``Fn::FindInMap`` in Resources, which the transform evaluates before SAM reads properties it
    takes no intrinsic in (``AutoPublishAlias`` of EnableSnapStart). Every other intrinsic, ``Fn::ToJsonString``
    and ``Fn::Length`` included, is resolved later with the resources' values (:class:`Intrinsics`). SAM CLI's
    own expansion serialises a resource's unresolved ``Ref`` into the JSON of ``Fn::ToJsonString``;
    CloudFormation substitutes its value."""
    if not check_using_language_extension(template):
        loops = [key for key in template.get("Resources") or {} if key.startswith("Fn::ForEach::")]
        if loops:
            raise IntrinsicError(f"{loops[0]}: Fn::ForEach needs `Transform: AWS::LanguageExtensions`")
        return template
    context = TemplateProcessingContext(
        fragment=copy.deepcopy(template),
        parameter_values=dict(parameters),
        pseudo_parameters=pseudo,
        resolution_mode=ResolutionMode.PARTIAL,
    )
    resolver = create_default_intrinsic_resolver(context)
    loops_only = ProcessingPipeline([TemplateParsingProcessor(), ForEachProcessor(intrinsic_resolver=resolver)])

    def find_in_map(node: Any) -> Any:
        if isinstance(node, list):
            return [find_in_map(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Fn::FindInMap"}:
            return resolver.resolve_value(node)
        return {key: find_in_map(value) for key, value in node.items()}

    try:
        expanded: dict[str, Any] = loops_only.process_template(context)
        expanded["Resources"] = find_in_map(expanded.get("Resources") or {})
    except (InvalidTemplateException, UnresolvableReferenceError) as exc:
        raise IntrinsicError(f"AWS::LanguageExtensions: {exc}") from exc
    return expanded


class _ResourceRef(FnRefResolver):
    symbols: ResourceSymbols

    def resolve(self, value: dict[str, Any]) -> Any:
        target = self.get_function_args(value)
        if isinstance(target, str) and self.symbols.is_resource(target):
            return self.symbols.ref(target)
        return super().resolve(value)


class _GetAtt(IntrinsicFunctionResolver):
    FUNCTION_NAMES = ["Fn::GetAtt"]  # noqa: RUF012 - the base class's declared shape
    symbols: ResourceSymbols

    def resolve(self, value: dict[str, Any]) -> Any:
        args = self.get_function_args(value)
        if isinstance(args, str):
            args = args.split(".", 1)
        if self.parent is not None:
            args = self.parent.resolve_value(args)
        if not isinstance(args, list) or len(args) != 2 or not all(isinstance(a, str) for a in args):
            raise IntrinsicError(f"Fn::GetAtt {args!r}: expected [LogicalId, Attribute]")
        return self.symbols.get_att(args[0], args[1])


class _Sub(FnSubResolver):
    symbols: ResourceSymbols

    def _resolve_variable(self, var_name: str, variable_map: dict[str, Any]) -> Any | None:
        resolved = super()._resolve_variable(var_name, variable_map)
        if resolved is not None:
            return resolved
        logical_id, _, attribute = var_name.partition(".")
        if not self.symbols.is_resource(logical_id):
            return None  # strict mode: the library refuses it by name
        return self.symbols.get_att(logical_id, attribute) if attribute else self.symbols.ref(logical_id)


class _NotEmulated(IntrinsicFunctionResolver):
    """Intrinsics that need another stack or the account (exports, AZs, CIDR blocks) or a transform."""

    FUNCTION_NAMES = ["Fn::ImportValue", "Fn::GetAZs", "Fn::Cidr", "Fn::Transform", "Fn::ForEach"]  # noqa: RUF012

    def resolve(self, value: dict[str, Any]) -> Any:
        name = self.get_function_name(value)
        raise IntrinsicError(f"{name} {self.get_function_args(value)!r}: not emulated locally")


# Ours first (the first resolver that accepts a value resolves it), then SAM CLI's.
_RESOLVERS: tuple[type[IntrinsicFunctionResolver], ...] = (
    _ResourceRef,
    _GetAtt,
    _Sub,
    _NotEmulated,
    ConditionResolver,
    FnIfResolver,
    FnBase64Resolver,
    FnJoinResolver,
    FnSplitResolver,
    FnSelectResolver,
    FnLengthResolver,
    FnFindInMapResolver,
    FnToJsonStringResolver,
)


class Intrinsics:
    """Resolves values of one template for one set of parameter values."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: Mapping[str, Any],
        pseudo: PseudoParameterValues,
        symbols: ResourceSymbols,
    ) -> None:
        self._context = TemplateProcessingContext(
            fragment=copy.deepcopy(template),
            parameter_values=dict(parameters),
            pseudo_parameters=pseudo,
            resolution_mode=ResolutionMode.FULL,
        )
        TemplateParsingProcessor().process_template(self._context)  # parameters and conditions, as parsed
        self._resolver = IntrinsicResolver(self._context)
        for resolver_class in _RESOLVERS:
            resolver = resolver_class(self._context, self._resolver)
            resolver.symbols = symbols
            self._resolver.add_resolver(resolver)

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic resolved and ``AWS::NoValue`` removed; IntrinsicError names
        what cannot be resolved."""
        try:
            return _without_no_value(self._resolver.resolve_value(value))
        except (InvalidTemplateException, UnresolvableReferenceError, ValueError, KeyError, TypeError) as exc:
            raise IntrinsicError(str(exc)) from exc

    def condition(self, name: str) -> bool:
        return bool(self.resolve({"Condition": name}))


def _is_no_value(value: Any) -> bool:
    # The library's Fn::If answers None for an AWS::NoValue branch (its own processor drops None the same way).
    return value is None or value == {"Ref": NO_VALUE}


def _without_no_value(value: Any) -> Any:
    """CloudFormation drops a property or list item whose value is ``Ref: AWS::NoValue``."""
    if isinstance(value, dict):
        return {k: _without_no_value(v) for k, v in value.items() if not _is_no_value(v)}
    if isinstance(value, list):
        return [_without_no_value(v) for v in value if not _is_no_value(v)]
    return value

"""Reads template.yaml and evaluates its intrinsics for given parameters, as CloudFormation would.

Enough of CloudFormation for the tests: parameters and their constraints, Conditions, Rules,
Ref, Fn::If/Join/Sub/FindInMap/GetAtt and AWS::NoValue. Resources resolve to placeholders
("<Queue>", "<Queue.Arn>"), which is all the invariants need.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"

PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "test-stack",
    "AWS::URLSuffix": "amazonaws.com",
}

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class _CfnLoader(yaml.SafeLoader):
    """PyYAML with CloudFormation's short-form tags (!Ref, !Sub, ...) as their long forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        # _CfnLoader is a SafeLoader: no arbitrary objects, only the CloudFormation tags.
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)
    return loaded


class ParameterError(ValueError):
    """A parameter value CloudFormation would refuse before evaluating anything."""


class Evaluator:
    """The template as deployed with `parameters` (defaults fill the rest)."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str] | None = None) -> None:
        self.template = template
        declared: dict[str, Any] = template["Parameters"]
        given = parameters or {}
        unknown = set(given) - set(declared)
        if unknown:
            raise ParameterError(f"not template parameters: {sorted(unknown)}")
        self.parameters: dict[str, str] = {}
        for name, spec in declared.items():
            if name in given:
                value = str(given[name])
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise ParameterError(f"{name} has no default and no value")
            check_parameter(name, spec, value)
            self.parameters[name] = value
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ conditions and rules
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self.truth(self.template["Conditions"][name])
        return self._conditions[name]

    def truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, args),) = node.items()
            if key == "Condition":
                return self.condition(args)
            if key == "Fn::Equals":
                return bool(self.value(args[0]) == self.value(args[1]))
            if key == "Fn::Not":
                return not self.truth(args[0])
            if key == "Fn::And":
                return all(self.truth(arg) for arg in args)
            if key == "Fn::Or":
                return any(self.truth(arg) for arg in args)
            if key == "Fn::Contains":
                return self.value(args[1]) in self.value(args[0])
        raise NotImplementedError(f"not a condition this evaluator knows: {node!r}")

    def failed_rules(self) -> list[str]:
        """The AssertDescription of every rule assertion these parameters break."""
        failures = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.truth(assertion["Assert"]):
                    failures.append(str(assertion["AssertDescription"]))
        return failures

    # ------------------------------------------------------------------ values
    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, args),) = node.items()
            if key == "Ref":
                return self.ref(args)
            if key == "Fn::If":
                name, when_true, when_false = args
                return self.value(when_true if self.condition(name) else when_false)
            if key == "Fn::Join":
                separator, parts = args
                return separator.join(str(part) for part in self.value(parts))
            if key == "Fn::Sub":
                return self.sub(args)
            if key == "Fn::FindInMap":
                name, top, second = (str(self.value(arg)) for arg in args)
                return self.template["Mappings"][name][top][second]
            if key == "Fn::GetAtt":
                resource, attribute = args
                return f"<{resource}.{attribute}>"
            if key.startswith("Fn::"):
                raise NotImplementedError(f"intrinsic not supported here: {key}")
        resolved = {key: self.value(item) for key, item in node.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template["Resources"]:
            return f"<{name}>"
        raise KeyError(f"Ref to unknown name {name}")

    def sub(self, args: Any) -> str:
        text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1])
        local = {name: self.value(item) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                if resource not in self.template["Resources"]:
                    raise KeyError(f"Sub names unknown resource {resource}")
                return f"<{resource}.{attribute}>"
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def resource(self, logical_id: str) -> dict[str, Any] | None:
        """The resource's evaluated definition, or None when its Condition leaves it out."""
        spec = self.template["Resources"][logical_id]
        if "Condition" in spec and not self.condition(spec["Condition"]):
            return None
        evaluated: dict[str, Any] = self.value(spec)
        return evaluated


def check_parameter(name: str, spec: dict[str, Any], value: str) -> None:
    """CloudFormation's own parameter constraints."""
    if "AllowedValues" in spec and value not in {str(v) for v in spec["AllowedValues"]}:
        raise ParameterError(f"{name}={value!r} is not one of {spec['AllowedValues']}")
    if "AllowedPattern" in spec and not re.fullmatch(str(spec["AllowedPattern"]), value):
        raise ParameterError(f"{name}={value!r} does not match {spec['AllowedPattern']}")
    if spec["Type"] == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ParameterError(f"{name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ParameterError(f"{name}={value} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ParameterError(f"{name}={value} is above {spec['MaxValue']}")


def sub_variables(text: str) -> set[str]:
    """The ${...} names a Fn::Sub string refers to (escaped ${!...} excluded)."""
    return set(_SUB_VARIABLE.findall(text))

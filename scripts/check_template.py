"""Translates infra/template.yaml with SAM's own translator (what CloudFormation runs on deploy)
and checks the result for what cfn-lint cannot see on the SAM template:

- a dependency cycle among the translated resources (CloudFormation refuses such a change set, so
  the first deploy would fail before anything exists);
- in particular, a function whose environment refers to a resource that refers back to it.

Writes the translated template to the path given (for cfn-lint to lint next) and exits 1 naming
each problem. Usage: check_template.py infra/template.yaml target/template.translated.json
"""

import json
import sys

import boto3
import yaml
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref X, !GetAtt A.B, !Sub ...) read as their long form."""


def _construct(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else "Fn::" + tag_suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct)


def refs(value):
    """Every logical id a value names through Ref, Fn::GetAtt or Fn::Sub."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                for piece in str(text).split("${")[1:]:
                    found.add(piece.split("}", 1)[0].split(".", 1)[0])
                found |= refs(inner[1] if isinstance(inner, list) and len(inner) > 1 else None)
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def dependencies(resources):
    """logical id -> the resources it needs first (references and DependsOn)."""
    graph = {}
    for name, resource in resources.items():
        needs = refs(resource.get("Properties", {}))
        depends = resource.get("DependsOn", [])
        needs |= set([depends] if isinstance(depends, str) else depends)
        graph[name] = {n for n in needs if n in resources and n != name}
    return graph


def reaches(graph, start, goal):
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def cycles(graph):
    """Strongly connected components with more than one member (Tarjan), each sorted."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def translate(template):
    # Local code paths are for `sam build`; the translator wants what `sam package` leaves.
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://bucket/key"
    globals_function = template.get("Globals", {}).get("Function", {})
    globals_function.pop("CodeUri", None)
    session = boto3.session.Session(region_name="us-east-1")
    return Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session, metrics=Metrics("check", DummyMetricsPublisher())).translate(sam_template=template, parameter_values={})


def problems_of(translated):
    resources = translated["Resources"]
    graph = dependencies(resources)
    problems = [f"dependency cycle among {', '.join(c)}" for c in cycles(graph)]
    for name, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        env = resource.get("Properties", {}).get("Environment", {})
        for target in sorted(n for n in refs(env) if n in resources):
            if reaches(graph, target, name):
                problems.append(f"{name}'s environment refers to {target}, which refers back to {name}")
    return problems


def load(source):
    with open(source) as f:
        return yaml.load(f, Loader=CfnLoader)


def main(source, out):
    translated = translate(load(source))
    with open(out, "w") as f:
        json.dump(translated, f, indent=1)
    problems = problems_of(translated)
    for p in problems:
        print(f"{source}: {p}")
    resources = translated["Resources"]
    functions = sum(r["Type"] == "AWS::Lambda::Function" for r in resources.values())
    print(f"translated {source}: {len(resources)} resources, {functions} functions, {len(problems)} problems -> {out}")
    # The check itself must still see the fault it exists for: the same template with every
    # function's environment naming the HTTP API (the cycle the stack once had) has to fail.
    broken = load(source)
    variables = broken["Globals"]["Function"]["Environment"]["Variables"]
    variables["HERALD_PUBLIC_URL"] = {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    if not problems_of(translate(broken)):
        print("self-check failed: a function environment naming the HTTP API was not reported as a cycle")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

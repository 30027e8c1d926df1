"""Writes testdata/elbv2-model.json: the operations Dockyard serves and every
shape they reach, from botocore's ELBv2 model, without documentation.
Run with the botocore that scripts/install-deps.sh installs:
    python3 testdata/extract_model.py
"""
import gzip, json, os, botocore

OPS = """AddTags CreateListener CreateLoadBalancer CreateRule CreateTargetGroup
DeleteListener DeleteLoadBalancer DeleteRule DeleteTargetGroup DeregisterTargets
DescribeAccountLimits DescribeListeners DescribeLoadBalancerAttributes
DescribeLoadBalancers DescribeRules DescribeTags DescribeTargetGroupAttributes
DescribeTargetGroups DescribeTargetHealth ModifyListener
ModifyLoadBalancerAttributes ModifyRule ModifyTargetGroup
ModifyTargetGroupAttributes RegisterTargets RemoveTags SetRulePriorities
AddListenerCertificates RemoveListenerCertificates DescribeListenerCertificates""".split()

path = os.path.join(os.path.dirname(botocore.__file__), "data", "elbv2", "2015-12-01", "service-2.json.gz")
model = json.load(gzip.open(path))
shapes = model["shapes"]
keep = {}

def visit(name):
    if name in keep:
        return
    shape = {k: v for k, v in shapes[name].items() if k != "documentation"}
    keep[name] = shape
    for member in shape.get("members", {}).values():
        member.pop("documentation", None)
        visit(member["shape"])
    for key in ("member", "key", "value"):
        if key in shape:
            shape[key].pop("documentation", None)
            visit(shape[key]["shape"])

ops = {}
for op in OPS:
    o = model["operations"][op]
    ops[op] = {k: o[k] for k in ("input", "output", "errors") if k in o}
    for ref in [o["input"], o["output"]] + o.get("errors", []):
        visit(ref["shape"])

out = {"metadata": model["metadata"], "operations": ops, "shapes": dict(sorted(keep.items()))}
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "elbv2-model.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")

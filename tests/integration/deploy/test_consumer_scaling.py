"""Processors and projector scale out within their partitions, by consumer lag.

Members of a worker group share the partitions (one live member per partition), so the
chart must never run more members than ``MINDHIT_PARTITIONS``, must roll them one at a
time, and, where KEDA scales them, must hand KEDA a lag figure that counts every
partition once even when a member that held a partition before a move still reports its
last values. The lag queries are evaluated with the real PromQL engine (``promtool test
rules``, from Debian's prometheus package) over series shaped like what Prometheus
scrapes from the pods: the app's metric labels plus the pod labels and namespace the
scrape adds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .chart import CHART, NAMESPACE, RELEASE, RenderError, find, promtool, render

pytestmark = pytest.mark.integration

CONSUMERS = ["processors", "projector"]
EKS_VALUES = ["values-dev.yaml", "values-prod.yaml"]


def _values(values_file: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / values_file).read_text())
    return loaded


def _autoscaling(values_file: str, component: str) -> dict[str, Any]:
    """The component's autoscaling values: the file's over the chart defaults."""
    defaults: dict[str, Any] = _values("values.yaml")[component]["autoscaling"]
    return defaults | _values(values_file)[component]["autoscaling"]


def _scaled_object(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    scaled = find(docs, "ScaledObject", f"{RELEASE}-{component}")
    assert scaled is not None, f"no ScaledObject for {component}"
    return scaled


@pytest.mark.parametrize("component", CONSUMERS)
def test_the_chart_refuses_more_members_than_partitions(component: str) -> None:
    """A partition is processed by one member at a time: extra members would only idle."""
    with pytest.raises(
        RenderError, match=rf"{component}\.replicas \(9\) must not exceed MINDHIT_PARTITIONS \(8\)"
    ):
        render("values.yaml", f"{component}.replicas=9", "config.MINDHIT_PARTITIONS=8")
    assert render("values.yaml", f"{component}.replicas=8", "config.MINDHIT_PARTITIONS=8")
    too_many = rf"{component}\.autoscaling\.maxReplicas \(25\) must not exceed MINDHIT_PARTITIONS"
    with pytest.raises(RenderError, match=rf"{too_many} \(24\)"):
        render("values-prod.yaml", f"{component}.autoscaling.maxReplicas=25")
    assert render("values-prod.yaml", f"{component}.autoscaling.maxReplicas=24")
    with pytest.raises(RenderError, match=rf"{component}\.autoscaling\.minReplicas \(5\)"):
        render(
            "values-prod.yaml",
            f"{component}.autoscaling.minReplicas=5",
            f"{component}.autoscaling.maxReplicas=4",
        )
    with pytest.raises(RenderError, match=rf"{component}\.autoscaling needs keda\.prometheusUrl"):
        render("values.yaml", f"{component}.autoscaling.enabled=true")


@pytest.mark.parametrize("values_file", EKS_VALUES)
def test_eks_values_scale_consumers_by_lag_within_their_partitions(values_file: str) -> None:
    """KEDA owns the replicas of processors and projector, between min and <= partitions."""
    docs = render(values_file)
    values = _values(values_file)
    partitions = int(values["config"]["MINDHIT_PARTITIONS"])
    for component in CONSUMERS:
        scaled = _scaled_object(docs, component)
        deployment = find(docs, "Deployment", f"{RELEASE}-{component}")
        assert deployment is not None
        # the HPA KEDA makes owns the count: a `replicas` here would fight it on upgrades
        assert "replicas" not in deployment["spec"]
        spec = scaled["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        wanted = _autoscaling(values_file, component)
        assert spec["minReplicaCount"] == wanted["minReplicas"] >= 1
        assert spec["maxReplicaCount"] == wanted["maxReplicas"] <= partitions
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
        assert trigger["metadata"]["serverAddress"] == values["keda"]["prometheusUrl"]
        assert float(trigger["metadata"]["threshold"]) == wanted["lagPerReplica"]
        # removing a member moves its partitions: at most one per step, after a quiet spell
        down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 120}]
        assert down["stabilizationWindowSeconds"] >= 60
        # Prometheus unreachable: keep the members there are
        assert spec["fallback"]["behavior"] == "currentReplicasIfHigher"


@pytest.mark.parametrize("values_file", ["values.yaml", "values-local.yaml", *EKS_VALUES])
def test_consumers_roll_one_member_at_a_time(values_file: str) -> None:
    """A new member joins before an old one leaves; a drain takes one member at a time."""
    docs = render(values_file)
    for component in CONSUMERS:
        deployment = find(docs, "Deployment", f"{RELEASE}-{component}")
        assert deployment is not None
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
        pdb = find(docs, "PodDisruptionBudget", f"{RELEASE}-{component}")
        if pdb is not None:  # minAvailable would block every drain of a single member
            assert pdb["spec"] == {
                "maxUnavailable": 1,
                "selector": deployment["spec"]["selector"],
            }


def _series(
    metric: str, component: str, pod: str, labels: dict[str, str], values: str
) -> dict[str, str]:
    scraped = {
        "namespace": NAMESPACE,
        "app_kubernetes_io_instance": RELEASE,
        "app_kubernetes_io_component": component,
        "pod": pod,
        **labels,
    }
    inner = ",".join(f'{k}="{v}"' for k, v in scraped.items())
    return {"series": f"{metric}{{{inner}}}", "values": values}


def _evaluate(query: str, series: list[dict[str, str]], expected: float, tmp_path: Path) -> None:
    """Assert with promtool that ``query`` over ``series`` yields exactly ``expected``."""
    test = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": query,
                        "eval_time": "5m",
                        "exp_samples": [{"labels": "{}", "value": expected}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "lag_test.yaml"
    path.write_text(yaml.safe_dump(test))
    done = subprocess.run(
        [str(promtool()), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _query(component: str) -> str:
    trigger = _scaled_object(render("values-prod.yaml"), component)["spec"]["triggers"][0]
    query: str = trigger["metadata"]["query"]
    return query


def test_processors_lag_counts_each_partition_once_after_a_move(tmp_path: Path) -> None:
    """Partition 0 moved from pod a to pod b; a still reports its last offsets."""
    hw, committed = "mindhit_transport_highwater", "mindhit_transport_committed_offset"
    p0 = {"topic": "raw", "partition": "0"}
    p1 = {"topic": "raw", "partition": "1"}
    visits = {"topic": "visits", "partition": "0"}
    series = [
        # pod a held partition 0 until offset 40 of 100, then lost it (stale from then on)
        _series(hw, "processors", "a", p0, "100x10"),
        _series(committed, "processors", "a", p0, "40x10"),
        # pod b holds it now: 300 of 500 done; and partition 1 fully caught up
        _series(hw, "processors", "b", p0, "500x10"),
        _series(committed, "processors", "b", p0, "300x10"),
        _series(hw, "processors", "b", p1, "50x10"),
        _series(committed, "processors", "b", p1, "50x10"),
        # a derived topic the processors also consume: 25 behind
        _series(hw, "processors", "b", visits, "75x10"),
        _series(committed, "processors", "b", visits, "50x10"),
        # other components and other releases never count
        _series(hw, "projector", "c", p1, "9000x10"),
        _series(committed, "projector", "c", p1, "0x10"),
    ]
    other_release = _series(hw, "processors", "x", p1, "7000x10")
    other_release["series"] = other_release["series"].replace(
        f'app_kubernetes_io_instance="{RELEASE}"', 'app_kubernetes_io_instance="other"'
    )
    series.append(other_release)
    _evaluate(_query("processors"), series, 200 + 0 + 25, tmp_path)


def test_projector_lag_is_the_slowest_projection_per_partition(tmp_path: Path) -> None:
    """Each partition counts with its worst projection; other components are not counted."""
    lag = "mindhit_projection_lag_entries"

    def labels(projection: str, partition: int) -> dict[str, str]:
        return {"projection": projection, "topic": "visits", "partition": str(partition)}

    series = [
        _series(lag, "projector", "a", labels("page_visits", 0), "30x10"),
        _series(lag, "projector", "a", labels("sessions", 0), "70x10"),
        _series(lag, "projector", "b", labels("page_visits", 1), "10x10"),
        _series(lag, "projector", "b", labels("sessions", 1), "0x10"),
        _series(lag, "processors", "c", labels("page_visits", 1), "5000x10"),
    ]
    _evaluate(_query("projector"), series, 70 + 10, tmp_path)

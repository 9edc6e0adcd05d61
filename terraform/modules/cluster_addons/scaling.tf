# Pod autoscaling inputs. metrics-server serves CPU/memory (the gateway's HPA). KEDA
# scales the processors and projector Deployments by consumer lag, read with PromQL from
# Prometheus (the chart's ScaledObjects; README, Deploy). Without an external Prometheus
# (prometheus_url) a small one is installed: server only, scraping the pods annotated
# prometheus.io/scrape (the chart annotates every MindHit pod), kept for
# prometheus_retention on an emptyDir, since it only has to know the current lag.

resource "helm_release" "metrics_server" {
  name        = "metrics-server"
  repository  = "https://kubernetes-sigs.github.io/metrics-server"
  chart       = "metrics-server"
  version     = var.metrics_server_chart_version
  namespace   = "kube-system"
  atomic      = true
  max_history = 5
  values = [yamlencode({
    replicas            = 2
    podDisruptionBudget = { enabled = true, maxUnavailable = 1 }
  })]
  depends_on = [helm_release.aws_load_balancer_controller]
}

resource "helm_release" "keda" {
  name             = "keda"
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = var.keda_chart_version
  namespace        = "keda"
  create_namespace = true
  atomic           = true
  max_history      = 5
  values = [yamlencode({
    clusterName = var.cluster_name
    # KEDA reads Prometheus only: no cloud identity for its operator
    podIdentity = { aws = { irsa = { enabled = false } } }
  })]
  depends_on = [helm_release.aws_load_balancer_controller]
}

resource "helm_release" "prometheus" {
  count            = var.prometheus_url == "" ? 1 : 0
  name             = "prometheus"
  repository       = "https://prometheus-community.github.io/helm-charts"
  chart            = "prometheus"
  version          = var.prometheus_chart_version
  namespace        = "monitoring"
  create_namespace = true
  atomic           = true
  max_history      = 5
  values = [yamlencode({
    alertmanager             = { enabled = false }
    kube-state-metrics       = { enabled = false }
    prometheus-node-exporter = { enabled = false }
    prometheus-pushgateway   = { enabled = false }
    server = {
      retention        = var.prometheus_retention
      persistentVolume = { enabled = false }
      resources = {
        requests = { cpu = "100m", memory = "512Mi" }
        limits   = { cpu = "1", memory = "2Gi" }
      }
    }
  })]
  depends_on = [helm_release.aws_load_balancer_controller]
}

"""Every image the corpus holds, per folder and file: ``container=reference``.

A leading ``!`` marks a site reported with an error (a placeholder that is no image
reference); files not listed hold no image.
"""

EXPECTED: dict[str, dict[str, list[str]]] = {
    "GoogleCloudPlatform__microservices-demo": {
        "kubernetes-manifests/adservice.yaml": [
            "server=adservice",
        ],
        "kubernetes-manifests/cartservice.yaml": [
            "server=cartservice",
            "redis=redis:alpine",
        ],
        "kubernetes-manifests/checkoutservice.yaml": [
            "server=checkoutservice",
        ],
        "kubernetes-manifests/currencyservice.yaml": [
            "server=currencyservice",
        ],
        "kubernetes-manifests/emailservice.yaml": [
            "server=emailservice",
        ],
        "kubernetes-manifests/frontend.yaml": [
            "server=frontend",
        ],
        "kubernetes-manifests/loadgenerator.yaml": [
            "frontend-check=busybox:1.38.0@sha256:fd8d9aa63ba2f0982b5304e1ee8d3b90a210bc1ffb5314d980eb6962f1a9715d",
            "main=loadgenerator",
        ],
        "kubernetes-manifests/paymentservice.yaml": [
            "server=paymentservice",
        ],
        "kubernetes-manifests/productcatalogservice.yaml": [
            "server=productcatalogservice",
        ],
        "kubernetes-manifests/recommendationservice.yaml": [
            "server=recommendationservice",
        ],
        "kubernetes-manifests/shippingservice.yaml": [
            "server=shippingservice",
        ],
        "kustomize/base/adservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/adservice:v0.10.6",
        ],
        "kustomize/base/cartservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/cartservice:v0.10.6",
            "redis=redis:alpine",
        ],
        "kustomize/base/checkoutservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/checkoutservice:v0.10.6",
        ],
        "kustomize/base/currencyservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/currencyservice:v0.10.6",
        ],
        "kustomize/base/emailservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/emailservice:v0.10.6",
        ],
        "kustomize/base/frontend.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend:v0.10.6",
        ],
        "kustomize/base/loadgenerator.yaml": [
            "frontend-check=busybox:1.38.0@sha256:fd8d9aa63ba2f0982b5304e1ee8d3b90a210bc1ffb5314d980eb6962f1a9715d",
            "main=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/loadgenerator:v0.10.6",
        ],
        "kustomize/base/paymentservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/paymentservice:v0.10.6",
        ],
        "kustomize/base/productcatalogservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/productcatalogservice:v0.10.6",
        ],
        "kustomize/base/recommendationservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/recommendationservice:v0.10.6",
        ],
        "kustomize/base/shippingservice.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/shippingservice:v0.10.6",
        ],
        "kustomize/components/container-images-registry/kustomization.yaml": [
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/adservice=CONTAINER_IMAGES_REGISTRY/adservice",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/cartservice=CONTAINER_IMAGES_REGISTRY/cartservice",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/checkoutservice=CONTAINER_IMAGES_REGISTRY/checkoutservice",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/currencyservice=CONTAINER_IMAGES_REGISTRY/currencyservice",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/emailservice=CONTAINER_IMAGES_REGISTRY/emailservice",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend=CONTAINER_IMAGES_REGISTRY/frontend",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/loadgenerator=CONTAINER_IMAGES_REGISTRY/loadgenerator",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/paymentservice=CONTAINER_IMAGES_REGISTRY/paymentservice",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/productcatalogservice=CONTAINER_IMAGES_REGISTRY/productcatalogservice",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/recommendationservice=CONTAINER_IMAGES_REGISTRY/recommendationservice",
            "!us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/shippingservice=CONTAINER_IMAGES_REGISTRY/shippingservice",
            "!redis=CONTAINER_IMAGES_REGISTRY/redis",
        ],
        "kustomize/components/container-images-tag/kustomization.yaml": [
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/adservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/adservice:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/cartservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/cartservice:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/checkoutservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/checkoutservice:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/currencyservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/currencyservice:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/emailservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/emailservice:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/loadgenerator=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/loadgenerator:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/paymentservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/paymentservice:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/productcatalogservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/productcatalogservice:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/recommendationservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/recommendationservice:CONTAINER_IMAGES_TAG",
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/shippingservice=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/shippingservice:CONTAINER_IMAGES_TAG",
        ],
        "kustomize/components/google-cloud-operations/otel-collector.yaml": [
            "otel-gateway-init=busybox:1.38.0@sha256:fd8d9aa63ba2f0982b5304e1ee8d3b90a210bc1ffb5314d980eb6962f1a9715d",
            "otel-gateway=otel/opentelemetry-collector-contrib:0.157.0@sha256:f2f01157055a9b2aab9df7118e1f1c9abf345e99b23bc7a2bc791db374a7d0f6",
        ],
        "kustomize/components/shopping-assistant/shoppingassistantservice.yaml": [
            "server=shoppingassistantservice",
        ],
        "release/kubernetes-manifests.yaml": [
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/adservice:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/currencyservice:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/cartservice:v0.10.6",
            "redis=redis:alpine",
            "frontend-check=busybox:1.38.0@sha256:fd8d9aa63ba2f0982b5304e1ee8d3b90a210bc1ffb5314d980eb6962f1a9715d",
            "main=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/loadgenerator:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/recommendationservice:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/checkoutservice:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/emailservice:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/paymentservice:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/shippingservice:v0.10.6",
            "server=us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/productcatalogservice:v0.10.6",
        ],
    },
    "argoproj__argocd-example-apps": {
        "blue-green/values.yaml": [
            "chart-image=gcr.io/google-samples/gb-frontend:v5",
        ],
        "guestbook/guestbook-ui-deployment.yaml": [
            "guestbook-ui=gcr.io/google-samples/gb-frontend:v5",
        ],
        "helm-guestbook/values.yaml": [
            "chart-image=gcr.io/google-samples/gb-frontend:v5",
        ],
        "helm-hooks/manifests.yaml": [
            "upgrade-sql-schema=alpine:latest",
            "page-up=alpine:latest",
            "main=nginx:latest",
            "page-down=alpine:latest",
        ],
        "kustomize-guestbook/guestbook-ui-deployment.yaml": [
            "guestbook-ui=gcr.io/google-samples/gb-frontend:v5",
        ],
        "plugins/kustomized-helm/overlays/guestbook-deployment.yaml": [
            "helm-guestbook=gcr.io/google-samples/gb-frontend:v5",
        ],
        "pre-post-sync/post-sync-job.yaml": [
            "sleep=alpine:latest",
        ],
        "pre-post-sync/pre-sync-job.yaml": [
            "sleep=alpine:latest",
        ],
        "sock-shop/base/carts-db-dep.yaml": [
            "carts-db=mongo",
        ],
        "sock-shop/base/carts-dep.yaml": [
            "carts=weaveworksdemos/carts:0.4.8",
        ],
        "sock-shop/base/catalogue-db-dep.yaml": [
            "catalogue-db=weaveworksdemos/catalogue-db:0.3.0",
        ],
        "sock-shop/base/catalogue-dep.yaml": [
            "catalogue=weaveworksdemos/catalogue:0.3.5",
        ],
        "sock-shop/base/front-end-dep.yaml": [
            "front-end=weaveworksdemos/front-end:0.3.12",
        ],
        "sock-shop/base/orders-db-dep.yaml": [
            "orders-db=mongo",
        ],
        "sock-shop/base/orders-dep.yaml": [
            "orders=weaveworksdemos/orders:0.4.7",
        ],
        "sock-shop/base/payment-dep.yaml": [
            "payment=weaveworksdemos/payment:0.4.3",
        ],
        "sock-shop/base/queue-master-dep.yaml": [
            "queue-master=weaveworksdemos/queue-master:0.3.1",
        ],
        "sock-shop/base/rabbitmq-dep.yaml": [
            "rabbitmq=rabbitmq:3.6.8-management",
            "rabbitmq-exporter=kbudde/rabbitmq-exporter",
        ],
        "sock-shop/base/session-db-dep.yaml": [
            "session-db=redis:alpine",
        ],
        "sock-shop/base/shipping-dep.yaml": [
            "shipping=weaveworksdemos/shipping:0.4.8",
        ],
        "sock-shop/base/user-db-dep.yaml": [
            "user-db=weaveworksdemos/user-db:0.3.0",
        ],
        "sock-shop/base/user-dep.yaml": [
            "user=weaveworksdemos/user:0.4.7",
        ],
        "sync-waves/manifests.yaml": [
            "upgrade-sql-schema=alpine:latest",
            "main=nginx:latest",
            "page-up=alpine:latest",
            "main=nginx:latest",
            "page-down=alpine:latest",
        ],
    },
    "bricef__gitops-tutorial": {
        "examples/podinfo-dep.yaml": [
            "podinfo=quay.io/stefanprodan/podinfo:3.0.0",
        ],
        "flux/flux-deployment.yaml": [
            "flux=fluxcd/flux:1.14.2",
        ],
        "flux/memcache-dep.yaml": [
            "memcached=memcached:1.4.25",
        ],
    },
    "fluxcd__flux-get-started": {
        "charts/ghost/values.yaml": [
            "chart-image=docker.io/bitnami/ghost:3.1.1-debian-9-r0",
            "volumePermissions=docker.io/bitnami/minideb:stretch",
        ],
        "releases/ghost.yaml": [
            "chart-image=bitnami/ghost:3.1.1-debian-9-r0",
        ],
        "releases/mongodb.yaml": [
            "chart-image=bitnami/mongodb:4.0.13",
        ],
        "releases/redis.yaml": [
            "chart-image=bitnami/redis:5.0.7",
        ],
        "workloads/podinfo-dep.yaml": [
            "init=alpine:3.10.1",
            "podinfod=stefanprodan/podinfo:3.1.0",
        ],
    },
    "fluxcd__flux2-kustomize-helm-example": {
        "apps/base/podinfo/release.yaml": [
            "redis=public.ecr.aws/docker/library/redis:8.6.2",
        ],
    },
    "microservices-demo__microservices-demo": {
        "deploy/docker-compose/docker-compose.logging.yml": [
            "elasticsearch=elasticsearch",
            "kibana=kibana",
            "log-server=weaveworksdemos/log-server",
        ],
        "deploy/docker-compose/docker-compose.monitoring.yml": [
            "prometheus=prom/prometheus",
            "nodeexporter=quay.io/prometheus/node-exporter:v1.1.2",
            "alertmanager=prom/alertmanager",
            "grafana=grafana/grafana",
            "importer=giantswarm/tiny-tools",
        ],
        "deploy/docker-compose/docker-compose.yml": [
            "front-end=weaveworksdemos/front-end:0.3.12",
            "edge-router=weaveworksdemos/edge-router:0.1.1",
            "catalogue=weaveworksdemos/catalogue:0.3.5",
            "catalogue-db=weaveworksdemos/catalogue-db:0.3.0",
            "carts=weaveworksdemos/carts:0.4.8",
            "carts-db=mongo:3.4",
            "orders=weaveworksdemos/orders:0.4.7",
            "orders-db=mongo:3.4",
            "shipping=weaveworksdemos/shipping:0.4.8",
            "queue-master=weaveworksdemos/queue-master:0.3.1",
            "rabbitmq=rabbitmq:3.6.8",
            "payment=weaveworksdemos/payment:0.4.3",
            "user=weaveworksdemos/user:0.4.4",
            "user-db=weaveworksdemos/user-db:0.4.0",
            "user-sim=weaveworksdemos/load-test:0.1.1",
        ],
        "deploy/kubernetes/autoscaling/grafana-deployment.yaml": [
            "grafana=gcr.io/google_containers/heapster-grafana-amd64:v4.0.2",
        ],
        "deploy/kubernetes/autoscaling/heapster-deployment.yaml": [
            "heapster=gcr.io/google_containers/heapster-amd64:v1.4.0",
        ],
        "deploy/kubernetes/autoscaling/influxdb-deployment.yaml": [
            "influxdb=gcr.io/google_containers/heapster-influxdb-amd64:v1.1.1",
        ],
        "deploy/kubernetes/complete-demo.yaml": [
            "carts=weaveworksdemos/carts:0.4.8",
            "carts-db=mongo",
            "catalogue=weaveworksdemos/catalogue:0.3.5",
            "catalogue-db=weaveworksdemos/catalogue-db:0.3.0",
            "front-end=weaveworksdemos/front-end:0.3.12",
            "orders=weaveworksdemos/orders:0.4.7",
            "orders-db=mongo",
            "payment=weaveworksdemos/payment:0.4.3",
            "queue-master=weaveworksdemos/queue-master:0.3.1",
            "rabbitmq=rabbitmq:3.6.8-management",
            "rabbitmq-exporter=kbudde/rabbitmq-exporter",
            "session-db=redis:alpine",
            "shipping=weaveworksdemos/shipping:0.4.8",
            "user=weaveworksdemos/user:0.4.7",
            "user-db=weaveworksdemos/user-db:0.3.0",
        ],
        "deploy/kubernetes/helm-chart/values.yaml": [
            "cartsdb=mongo:4.4.0",
            "carts=weaveworksdemos/carts:0.4.8",
            "cataloguedb=weaveworksdemos/catalogue-db:0.3.0",
            "catalogue=weaveworksdemos/catalogue:0.3.5",
            "frontend=weaveworksdemos/front-end:0.3.12",
            "loadtest=weaveworksdemos/load-test:0.1.1",
            "ordersdb=mongo:4.4.0",
            "orders=weaveworksdemos/orders:0.4.7",
            "payment=weaveworksdemos/payment:0.4.3",
            "queuemaster=weaveworksdemos/queue-master:0.3.1",
            "rabbitmq=rabbitmq:3.6.8",
            "sessiondb=redis:alpine",
            "shipping=weaveworksdemos/shipping:0.4.8",
            "userdb=weaveworksdemos/user-db:0.4.0",
            "user=weaveworksdemos/user:0.4.7",
            "zipkincron=openzipkin/zipkin-dependencies:1.4.0",
            "zipkin=openzipkin/zipkin:2.21",
            "zipkinmysql=openzipkin/zipkin-mysql:1.20.0",
        ],
        "deploy/kubernetes/manifests-alerting/alertmanager-dep.yaml": [
            "alertmanager=prom/alertmanager:latest",
        ],
        "deploy/kubernetes/manifests-jaeger/catalogue-dep.yaml": [
            "catalogue=weaveworksdemos/catalogue:0.3.5",
        ],
        "deploy/kubernetes/manifests-jaeger/jaeger.yaml": [
            "jaeger=jaegertracing/all-in-one",
        ],
        "deploy/kubernetes/manifests-jaeger/payment-dep.yaml": [
            "payment=weaveworksdemos/payment:0.4.3",
        ],
        "deploy/kubernetes/manifests-jaeger/user-dep.yaml": [
            "user=weaveworksdemos/user:0.4.7",
        ],
        "deploy/kubernetes/manifests-loadtest/loadtest-dep.yaml": [
            "load-test=weaveworksdemos/load-test:0.1.1",
        ],
        "deploy/kubernetes/manifests-logging/elasticsearch.yml": [
            "elasticsearch=elasticsearch",
        ],
        "deploy/kubernetes/manifests-logging/fluentd-daemon.yml": [
            "fluentd=weaveworksdemos/log-server",
        ],
        "deploy/kubernetes/manifests-logging/kibana.yml": [
            "kibana=kibana",
        ],
        "deploy/kubernetes/manifests-monitoring/06-prometheus-dep.yaml": [
            "prometheus=prom/prometheus:v2.26.0",
        ],
        "deploy/kubernetes/manifests-monitoring/08-prometheus-exporter-disk-usage-ds.yaml": [
            "read-du=giantswarm/tiny-tools",
            "caddy=dockermuenster/caddy:0.9.3",
        ],
        "deploy/kubernetes/manifests-monitoring/13-kube-state-dep.yaml": [
            "kube-state-metrics=k8s.gcr.io/kube-state-metrics/kube-state-metrics:v2.1.0",
        ],
        "deploy/kubernetes/manifests-monitoring/21-grafana-dep.yaml": [
            "grafana-core=grafana/grafana:7.5.5",
        ],
        "deploy/kubernetes/manifests-monitoring/23-grafana-import-dash-batch.yaml": [
            "grafana-import-dashboards=giantswarm/tiny-tools",
        ],
        "deploy/kubernetes/manifests-monitoring/25-prometheus-node-exporter-daemonset.yaml": [
            "node-exporter=quay.io/prometheus/node-exporter:v1.1.2",
        ],
        "deploy/kubernetes/manifests/01-carts-dep.yaml": [
            "carts=weaveworksdemos/carts:0.4.8",
        ],
        "deploy/kubernetes/manifests/03-carts-db-dep.yaml": [
            "carts-db=mongo",
        ],
        "deploy/kubernetes/manifests/05-catalogue-dep.yaml": [
            "catalogue=weaveworksdemos/catalogue:0.3.5",
        ],
        "deploy/kubernetes/manifests/07-catalogue-db-dep.yaml": [
            "catalogue-db=weaveworksdemos/catalogue-db:0.3.0",
        ],
        "deploy/kubernetes/manifests/09-front-end-dep.yaml": [
            "front-end=weaveworksdemos/front-end:0.3.12",
        ],
        "deploy/kubernetes/manifests/11-orders-dep.yaml": [
            "orders=weaveworksdemos/orders:0.4.7",
        ],
        "deploy/kubernetes/manifests/13-orders-db-dep.yaml": [
            "orders-db=mongo",
        ],
        "deploy/kubernetes/manifests/15-payment-dep.yaml": [
            "payment=weaveworksdemos/payment:0.4.3",
        ],
        "deploy/kubernetes/manifests/17-queue-master-dep.yaml": [
            "queue-master=weaveworksdemos/queue-master:0.3.1",
        ],
        "deploy/kubernetes/manifests/19-rabbitmq-dep.yaml": [
            "rabbitmq=rabbitmq:3.6.8-management",
            "rabbitmq-exporter=kbudde/rabbitmq-exporter",
        ],
        "deploy/kubernetes/manifests/21-session-db-dep.yaml": [
            "session-db=redis:alpine",
        ],
        "deploy/kubernetes/manifests/23-shipping-dep.yaml": [
            "shipping=weaveworksdemos/shipping:0.4.8",
        ],
        "deploy/kubernetes/manifests/25-user-dep.yaml": [
            "user=weaveworksdemos/user:0.4.7",
        ],
        "deploy/kubernetes/manifests/27-user-db-dep.yaml": [
            "user-db=weaveworksdemos/user-db:0.3.0",
        ],
    },
    "stefanprodan__podinfo": {
        "charts/podinfo/values-prod.yaml": [
            "chart-image=ghcr.io/stefanprodan/podinfo:6.14.1",
            "redis=redis:8.8.0",
        ],
        "charts/podinfo/values.yaml": [
            "chart-image=ghcr.io/stefanprodan/podinfo:6.14.1",
            "redis=docker.io/redis:8.8.0",
        ],
        "deploy/bases/backend/deployment.yaml": [
            "backend=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/bases/cache/deployment.yaml": [
            "redis=docker.io/redis:8.8.0",
        ],
        "deploy/bases/database/cronjob-backup-daily.yaml": [
            "backup=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/bases/database/cronjob-rollup-daily.yaml": [
            "healthcheck=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/bases/database/cronjob-rollup-weekly.yaml": [
            "healthcheck=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/bases/database/deployment-replica.yaml": [
            "database=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/bases/database/statefulset-primary.yaml": [
            "database=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/bases/frontend/cronjob-warm-cache.yaml": [
            "warm-cache-init=ghcr.io/stefanprodan/podinfo:6.14.1",
            "warm-cache=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/bases/frontend/deployment.yaml": [
            "frontend=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/secure/backend/deployment.yaml": [
            "backend=ghcr.io/stefanprodan/podinfo:5.0.3",
        ],
        "deploy/secure/frontend/deployment.yaml": [
            "frontend=deavon/podinfo:secure-port",
        ],
        "deploy/webapp/backend/deployment.yaml": [
            "backend=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "deploy/webapp/frontend/deployment.yaml": [
            "frontend=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "kustomize/deployment.yaml": [
            "podinfod=ghcr.io/stefanprodan/podinfo:6.14.1",
        ],
        "otel/docker-compose.yaml": [
            "otel=otel/opentelemetry-collector-contrib:0.116.1",
            "loki=grafana/loki:3.0.0",
            "grafana=grafana/grafana:10.4.0",
            "jaeger=jaegertracing/all-in-one:1.57.0",
        ],
    },
    "argoproj__argo-cd": {
        "controller/testdata/target-rollout.yaml": [
            "init=init-container:v1",
            "main=main-container:v1",
        ],
        "resource_customizations/argoproj.io/Experiment/testdata/successfulExperiment.yaml": [
            "baseline.guestbook=argoproj/rollouts-demo:blue",
            "canary.guestbook=argoproj/rollouts-demo:yellow",
        ],
        "resource_customizations/argoproj.io/Rollout/testdata/canary/healthy_executedAllSteps.yaml": [  # noqa: E501
            "guestbook-canary=quay.io/argoprojlabs/argocd-e2e-container:0.1"
        ],
        "resource_customizations/keda.sh/ScaledJob/testdata/keda-healthy.yaml": [
            "sleeper=docker.io/library/busybox"
        ],
    },
    "GoogleCloudPlatform__kubernetes-engine-samples": {
        "ai-ml/gke-ray/rayserve/falcon-7b.yaml": [
            "ray-head=anyscale/ray-llm:0.5.0",
            "llm=anyscale/ray-llm:0.5.0",
        ],
        "ai-ml/gke-ray/rayserve/stable-diffusion/ray-cluster.yaml": [
            "ray-head=rayproject/ray:2.37.0",
            "ray-worker=rayproject/ray:2.37.0-gpu",
        ],
        "ai-ml/gke-ray/raytrain/pytorch-mnist/ray-job.yaml": [
            "ray-head=rayproject/ray:2.37.0",
            "ray-worker=rayproject/ray:2.37.0",
        ],
        "ai-ml/gke-tpu-dynamic-slicing/tpu-multislice-jax.yaml": ["jax-worker=python:3.12"],
        "ai-ml/llm-multihost-gpus/vllm-llama3-405b-A3.yaml": [
            "vllm-leader=vllm/vllm-openai:v0.8.5",
            "vllm-worker=vllm/vllm-openai:v0.8.5",
        ],
        "ai-ml/llm-multihost-tpus-saxml/sax-model-server-set.yaml": [
            "sax-model-server=us-docker.pkg.dev/cloud-tpu-images/inference/sax-model-server:v1.1.0"
        ],
        "ai-ml/llm-serving-tpus-jetstream/pathways/jetstream-pathways-llama-3-1-405b-4x4.yaml": [
            "pathways-proxy=us-docker.pkg.dev/cloud-tpu-v2-images/pathways/proxy_server:jax-0.5.3",
            "pathways-rm=us-docker.pkg.dev/cloud-tpu-v2-images/pathways/server:jax-0.5.3",
            "jax-tpu=us-docker.pkg.dev/cloud-tpu-images/inference/jetstream-pathways:v0.2.0",
            "jetstream-http=us-docker.pkg.dev/cloud-tpu-images/inference/jetstream-http:v0.2.3",
            "worker=us-docker.pkg.dev/cloud-tpu-v2-images/pathways/server:jax-0.5.3",
        ],
    },
    "kubernetes__examples": {
        "web/guestbook-go/guestbook-controller.yaml": ["guestbook=registry.k8s.io/guestbook:v3"],
        "web/guestbook-go/redis-replica-controller.yaml": [
            "redis-replica=registry.k8s.io/redis-slave:v2"
        ],
    },
}

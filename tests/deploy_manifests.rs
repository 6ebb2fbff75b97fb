//! Checks the container and deployment files — Dockerfile, deploy/compose.yaml,
//! deploy/k8s/*.yaml, deploy/rabbitmq/* and deploy/feedwire.container.toml —
//! for the properties that matter in production and that no linter sees: one
//! worker replica, probes on the ops port, the shutdown grace fitting inside the
//! orchestrator's, a KEDA trigger on a queue that really exists with dead
//! lettering, a non-root exec-form image without OpenSSL, and so on.
//!
//! Pure file checks: no Docker, cluster or broker needed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use feedwire::config::Config;
use serde::Deserialize;
use serde_json::Value;

const WORKER_SECRET_KEY: &str = "FEEDWIRE_BROKER_URL";
const OPS_PORT: u64 = 9090;
const STORE_DIR: &str = "/var/lib/feedwire";
const CONFIG_DIR: &str = "/etc/feedwire";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Every non-empty YAML document of a file (files may hold several, `---`).
fn yaml_docs_at(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut docs = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
        let value = Value::deserialize(doc)
            .unwrap_or_else(|e| panic!("{} document {i} is not valid YAML: {e}", path.display()));
        if !value.is_null() {
            docs.push(value);
        }
    }
    docs
}

fn yaml_docs(rel: &str) -> Vec<Value> {
    yaml_docs_at(&root().join(rel))
}

fn yaml_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files_under(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

/// Every Kubernetes object in deploy/k8s except the kustomization, with its file.
fn k8s_objects() -> Vec<(String, Value)> {
    let mut files = Vec::new();
    yaml_files_under(&root().join("deploy/k8s"), &mut files);
    files.sort();
    let mut objects = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name == "kustomization.yaml" {
            continue;
        }
        for doc in yaml_docs_at(&file) {
            objects.push((name.clone(), doc));
        }
    }
    objects
}

fn find_object(kind: &str, name: &str) -> Value {
    k8s_objects()
        .into_iter()
        .map(|(_, o)| o)
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("deploy/k8s has no {kind} named {name}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The worker: the StatefulSet or Deployment whose pods carry component=worker.
fn worker() -> Value {
    let workers: Vec<Value> = k8s_objects()
        .into_iter()
        .map(|(_, o)| o)
        .filter(|o| matches!(s(&o["kind"]), "StatefulSet" | "Deployment"))
        .filter(|o| {
            o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
        })
        .collect();
    assert_eq!(
        workers.len(),
        1,
        "exactly one worker workload in deploy/k8s"
    );
    workers.into_iter().next().unwrap()
}

fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    arr(&workload["spec"]["template"]["spec"]["containers"])
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// A probe's port, named or numbered, as a number.
fn probe_port(container: &Value, port: &Value) -> u64 {
    if let Some(n) = port.as_u64() {
        return n;
    }
    arr(&container["ports"])
        .iter()
        .find(|p| p["name"] == *port)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("probe port {port} is not a container port"))
}

fn container_config() -> (String, Config) {
    let text = read("deploy/feedwire.container.toml");
    let config = Config::from_toml(&text, None).unwrap_or_else(|e| {
        panic!("deploy/feedwire.container.toml is not a valid feedwire config: {e}")
    });
    (text, config)
}

fn definitions() -> Value {
    serde_json::from_str(&read("deploy/rabbitmq/definitions.json"))
        .expect("deploy/rabbitmq/definitions.json is valid JSON")
}

// ---------------------------------------------------------------------------

#[test]
fn every_deploy_file_parses() {
    let mut files = Vec::new();
    yaml_files_under(&root().join("deploy"), &mut files);
    assert!(
        files.len() >= 9,
        "expected the compose file and the k8s manifests, found {files:?}"
    );
    for file in &files {
        let docs = yaml_docs_at(file);
        assert!(
            !docs.is_empty(),
            "{} holds no YAML document",
            file.display()
        );
    }
    for (file, object) in k8s_objects() {
        for key in ["apiVersion", "kind"] {
            assert!(object[key].is_string(), "{file}: an object without {key}");
        }
        assert!(
            object["metadata"]["name"].is_string(),
            "{file}: an object without metadata.name"
        );
        assert!(
            object["metadata"].get("namespace").is_none(),
            "{file}: manifests stay namespace-agnostic (set it with -n or kustomize)"
        );
    }
    definitions();
    container_config();
}

#[test]
fn kustomization_lists_every_manifest() {
    let kustomization = &yaml_docs("deploy/k8s/kustomization.yaml")[0];
    assert_eq!(kustomization["kind"], "Kustomization");
    assert!(
        kustomization.get("namespace").is_none(),
        "namespace-agnostic: no namespace in the kustomization"
    );
    let listed: BTreeSet<String> = arr(&kustomization["resources"])
        .iter()
        .map(|r| s(r).to_string())
        .collect();
    for resource in &listed {
        assert!(
            root().join("deploy/k8s").join(resource).is_file(),
            "kustomization.yaml lists {resource}, which does not exist"
        );
    }
    let mut files = Vec::new();
    yaml_files_under(&root().join("deploy/k8s"), &mut files);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name != "kustomization.yaml" {
            assert!(
                listed.contains(&name),
                "{name} is not in kustomization.yaml"
            );
        }
    }
}

#[test]
fn worker_runs_one_replica_with_probes_resources_and_hardening() {
    let worker = worker();
    let kind = s(&worker["kind"]);
    // The SQLite store is single-writer.
    assert_eq!(
        worker["spec"]["replicas"], 1,
        "the worker must run exactly one replica"
    );
    if kind == "Deployment" {
        assert_eq!(
            worker["spec"]["strategy"]["type"], "Recreate",
            "a rolling update would run two writers of the store"
        );
    }
    let pod = &worker["spec"]["template"]["spec"];
    let c = container(&worker, "feedwire");

    let ports: Vec<u64> = arr(&c["ports"])
        .iter()
        .filter_map(|p| p["containerPort"].as_u64())
        .collect();
    assert!(
        ports.contains(&OPS_PORT),
        "container port {OPS_PORT} declared"
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let http = &c[probe]["httpGet"];
        assert_eq!(http["path"], path, "{probe} path");
        assert_eq!(probe_port(c, &http["port"]), OPS_PORT, "{probe} port");
    }

    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                !c["resources"][bound][resource].is_null(),
                "resources.{bound}.{resource} must be set"
            );
        }
    }

    let non_root = c["securityContext"]["runAsNonRoot"] == true
        || pod["securityContext"]["runAsNonRoot"] == true;
    assert!(non_root, "runAsNonRoot");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert!(
        arr(&sc["capabilities"]["drop"]).iter().any(|d| d == "ALL"),
        "capabilities.drop includes ALL"
    );

    // The broker URL comes from the Secret, by the key the binary reads.
    let secret_name = arr(&c["envFrom"])
        .iter()
        .find_map(|e| e["secretRef"]["name"].as_str())
        .expect("envFrom a Secret");
    let secret = find_object("Secret", secret_name);
    assert!(
        !secret["stringData"][WORKER_SECRET_KEY].is_null()
            || !secret["data"][WORKER_SECRET_KEY].is_null(),
        "Secret {secret_name} holds {WORKER_SECRET_KEY}"
    );

    // Config from the ConfigMap at the path FEEDWIRE_CONFIG names.
    let env_config = arr(&c["env"])
        .iter()
        .find(|e| e["name"] == "FEEDWIRE_CONFIG")
        .map(|e| s(&e["value"]).to_string())
        .unwrap_or_else(|| format!("{CONFIG_DIR}/feedwire.toml"));
    assert_eq!(env_config, format!("{CONFIG_DIR}/feedwire.toml"));
    let volumes = arr(&pod["volumes"]);
    let mount_of = |path: &str| -> String {
        arr(&c["volumeMounts"])
            .iter()
            .find(|m| m["mountPath"] == path)
            .map(|m| s(&m["name"]).to_string())
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
    };
    let config_volume = mount_of(CONFIG_DIR);
    let config_map = volumes
        .iter()
        .find(|v| v["name"] == config_volume.as_str())
        .and_then(|v| v["configMap"]["name"].as_str())
        .expect("the config volume is a ConfigMap");
    assert!(
        find_object("ConfigMap", config_map)["data"]["feedwire.toml"].is_string(),
        "ConfigMap {config_map} has the key feedwire.toml"
    );

    // The store lives on a persistent volume.
    let store_volume = mount_of(STORE_DIR);
    let from_claim_template = arr(&worker["spec"]["volumeClaimTemplates"])
        .iter()
        .any(|t| t["metadata"]["name"] == store_volume.as_str());
    let from_claim = volumes
        .iter()
        .any(|v| v["name"] == store_volume.as_str() && !v["persistentVolumeClaim"].is_null());
    assert!(
        from_claim_template || from_claim,
        "{STORE_DIR} must be a persistent volume, not {store_volume}"
    );
    if from_claim {
        let claim = volumes
            .iter()
            .find(|v| v["name"] == store_volume.as_str())
            .unwrap();
        find_object(
            "PersistentVolumeClaim",
            s(&claim["persistentVolumeClaim"]["claimName"]),
        );
    }
}

#[test]
fn shutdown_grace_fits_in_the_orchestrators_grace() {
    let (_, config) = container_config();
    let grace = config.pipeline.shutdown_grace;

    let worker = worker();
    let k8s_grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds set on the worker");
    assert!(
        Duration::from_secs(k8s_grace) > grace,
        "terminationGracePeriodSeconds ({k8s_grace}s) must exceed shutdown_grace ({grace:?})"
    );

    let compose = &yaml_docs("deploy/compose.yaml")[0];
    let stop = s(&compose["services"]["feedwire"]["stop_grace_period"]);
    let stop = humantime::parse_duration(stop).expect("feedwire stop_grace_period is a duration");
    assert!(
        stop > grace,
        "compose stop_grace_period ({stop:?}) must exceed shutdown_grace ({grace:?})"
    );
}

#[test]
fn container_config_uses_the_volume_and_the_ops_port() {
    let (text, config) = container_config();
    assert_eq!(
        config.store.path,
        Path::new(STORE_DIR).join("feedwire.db"),
        "the store is on the volume"
    );
    assert!(!config.feeds.is_empty(), "the container config polls feeds");
    // Read [ops] as plain TOML, independent of how the library models it.
    let raw: toml::Table = text.parse().expect("TOML");
    let listen = raw
        .get("ops")
        .and_then(|o| o.get("listen"))
        .and_then(|l| l.as_str())
        .expect("[ops] listen is set in the container config");
    let addr: std::net::SocketAddr = listen.parse().expect("[ops] listen is an address");
    assert!(
        addr.ip().is_unspecified(),
        "ops listens on all interfaces in a container"
    );
    assert_eq!(u64::from(addr.port()), OPS_PORT);
    // The exchange the worker publishes to is the one the broker defines.
    let defs = definitions();
    assert!(
        arr(&defs["exchanges"])
            .iter()
            .any(|e| e["name"] == config.broker.exchange.as_str()
                && e["type"] == "topic"
                && e["durable"] == true),
        "definitions.json declares the durable topic exchange {}",
        config.broker.exchange
    );
}

#[test]
fn configmap_carries_the_container_config() {
    let text = read("deploy/feedwire.container.toml");
    let config_map = find_object("ConfigMap", "feedwire-config");
    assert_eq!(
        s(&config_map["data"]["feedwire.toml"]).trim_end(),
        text.trim_end(),
        "deploy/k8s/configmap.yaml must carry deploy/feedwire.container.toml verbatim"
    );
}

#[test]
fn metrics_service_and_pdb_select_the_worker() {
    let worker = worker();
    let labels = &worker["spec"]["template"]["metadata"]["labels"];
    let selects_worker = |selector: &Value| {
        let map = selector.as_object().expect("a label selector");
        !map.is_empty() && map.iter().all(|(k, v)| labels[k] == *v)
    };

    let service = find_object("Service", "feedwire");
    assert!(
        selects_worker(&service["spec"]["selector"]),
        "Service selects the worker"
    );
    assert_eq!(
        service["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    assert_eq!(
        service["metadata"]["annotations"]["prometheus.io/port"],
        OPS_PORT.to_string()
    );
    assert!(
        arr(&service["spec"]["ports"])
            .iter()
            .any(|p| p["port"] == OPS_PORT),
        "Service exposes {OPS_PORT}"
    );
    if worker["kind"] == "StatefulSet" {
        assert_eq!(worker["spec"]["serviceName"], service["metadata"]["name"]);
    }

    let pdb = k8s_objects()
        .into_iter()
        .map(|(_, o)| o)
        .find(|o| o["kind"] == "PodDisruptionBudget")
        .expect("a PodDisruptionBudget");
    assert!(selects_worker(&pdb["spec"]["selector"]["matchLabels"]));
    // One replica: minAvailable 1 / maxUnavailable 0 would block node drains.
    let blocks = pdb["spec"]["minAvailable"] == 1 || pdb["spec"]["maxUnavailable"] == 0;
    assert!(
        !blocks,
        "a PDB that allows no eviction of the single worker blocks drains forever"
    );
}

#[test]
fn keda_scales_the_consumer_on_a_dead_lettered_quorum_queue() {
    let objects: Vec<Value> = k8s_objects().into_iter().map(|(_, o)| o).collect();
    let scaled = objects
        .iter()
        .find(|o| o["kind"] == "ScaledObject")
        .expect("a KEDA ScaledObject");
    let target = &scaled["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"], "Deployment");
    let consumer = find_object("Deployment", s(&target["name"]));
    assert_eq!(
        consumer["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"],
        "consumer"
    );
    assert!(
        consumer["spec"].get("replicas").is_none(),
        "KEDA owns the consumer's replica count"
    );

    let trigger = arr(&scaled["spec"]["triggers"])
        .iter()
        .find(|t| t["type"] == "rabbitmq")
        .expect("a rabbitmq trigger");
    let meta = &trigger["metadata"];
    assert_eq!(meta["mode"], "QueueLength");
    assert!(
        s(&meta["value"]).parse::<u32>().is_ok_and(|v| v > 0),
        "trigger value is a positive number, as a string"
    );
    let queue_name = s(&meta["queueName"]);

    // Authentication: the host comes from the Secret, not from the manifest.
    assert!(
        meta.get("host").is_none(),
        "no broker URL inline in the trigger"
    );
    let auth = find_object(
        "TriggerAuthentication",
        s(&trigger["authenticationRef"]["name"]),
    );
    let host = arr(&auth["spec"]["secretTargetRef"])
        .iter()
        .find(|r| r["parameter"] == "host")
        .expect("TriggerAuthentication provides `host`");
    let secret = find_object("Secret", s(&host["name"]));
    let key = s(&host["key"]);
    assert!(
        !secret["stringData"][key].is_null() || !secret["data"][key].is_null(),
        "Secret {} has key {key}",
        s(&host["name"])
    );

    // The consumer reads the queue KEDA measures.
    let c = &consumer["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = arr(&c["args"]).iter().map(s).collect();
    let queue_arg = args.windows(2).find(|w| w[0] == "--queue").map(|w| w[1]);
    assert_eq!(
        queue_arg,
        Some(queue_name),
        "the consumer reads {queue_name}"
    );
    assert!(
        arr(&c["envFrom"])
            .iter()
            .any(|e| e["secretRef"]["name"] == host["name"]),
        "the consumer gets the broker URL from the same Secret"
    );

    // The queue exists in the broker definitions as a quorum queue with a
    // dead-letter exchange that exists and leads to a durable queue.
    let defs = definitions();
    let queue = arr(&defs["queues"])
        .iter()
        .find(|q| q["name"] == queue_name)
        .unwrap_or_else(|| panic!("definitions.json has no queue {queue_name}"));
    assert_eq!(queue["durable"], true);
    assert_eq!(queue["arguments"]["x-queue-type"], "quorum");
    assert!(
        queue["arguments"]["x-delivery-limit"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "a delivery limit, so poison messages are dead-lettered"
    );
    let dlx = s(&queue["arguments"]["x-dead-letter-exchange"]);
    assert!(!dlx.is_empty(), "{queue_name} has a dead-letter exchange");
    assert!(
        arr(&defs["exchanges"])
            .iter()
            .any(|e| e["name"] == dlx && e["durable"] == true),
        "dead-letter exchange {dlx} is defined and durable"
    );
    let dead_queues: Vec<&str> = arr(&defs["bindings"])
        .iter()
        .filter(|b| b["source"] == dlx && b["destination_type"] == "queue")
        .map(|b| s(&b["destination"]))
        .collect();
    assert!(!dead_queues.is_empty(), "a queue is bound to {dlx}");
    for dead in dead_queues {
        let q = arr(&defs["queues"])
            .iter()
            .find(|q| q["name"] == dead)
            .unwrap_or_else(|| panic!("bound dead-letter queue {dead} is defined"));
        assert_eq!(q["durable"], true, "{dead} is durable");
    }

    // And it receives every article.
    let (_, config) = container_config();
    assert!(
        arr(&defs["bindings"])
            .iter()
            .any(|b| b["source"] == config.broker.exchange.as_str()
                && b["destination"] == queue_name
                && b["routing_key"] == "article.#"),
        "{queue_name} is bound to {} with article.#",
        config.broker.exchange
    );
    // feedwire declares its configured queues with x-queue-type only; a
    // redeclare of the dead-lettered work queue would be refused.
    assert!(
        config.broker.queues.iter().all(|q| q.name != queue_name),
        "the container config must not declare {queue_name} (inequivalent arguments)"
    );
}

#[test]
fn rabbitmq_definitions_are_complete_for_boot_import() {
    let defs = definitions();
    // Import on boot skips RabbitMQ's default user and vhost: the file brings its own.
    assert!(arr(&defs["vhosts"]).iter().any(|v| v["name"] == "/"));
    let users: Vec<&str> = arr(&defs["users"]).iter().map(|u| s(&u["name"])).collect();
    assert!(!users.is_empty(), "definitions.json defines a user");
    for user in users {
        assert!(
            arr(&defs["permissions"])
                .iter()
                .any(|p| p["user"] == user && p["vhost"] == "/"),
            "user {user} has permissions on /"
        );
    }
    for list in ["queues", "exchanges", "bindings"] {
        for item in arr(&defs[list]) {
            assert_eq!(item["vhost"], "/", "every entry of {list} names its vhost");
        }
    }
    let conf = read("deploy/rabbitmq/rabbitmq.conf");
    let setting = |key: &str| -> Option<String> {
        conf.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
    };
    let load = setting("load_definitions").expect("rabbitmq.conf sets load_definitions");
    assert_eq!(setting("loopback_users").as_deref(), Some("none"));

    // compose mounts the definitions where rabbitmq.conf looks for them, and
    // the conf where RabbitMQ reads it.
    let compose = &yaml_docs("deploy/compose.yaml")[0];
    let mounts: Vec<&str> = arr(&compose["services"]["rabbitmq"]["volumes"])
        .iter()
        .map(s)
        .collect();
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with("./rabbitmq/definitions.json:")
                && m.split(':').nth(1) == Some(load.as_str())),
        "compose mounts definitions.json at {load}: {mounts:?}"
    );
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with("./rabbitmq/rabbitmq.conf:/etc/rabbitmq/")),
        "compose mounts rabbitmq.conf under /etc/rabbitmq: {mounts:?}"
    );
}

#[test]
fn compose_wires_broker_worker_and_consumer() {
    let compose = &yaml_docs("deploy/compose.yaml")[0];
    let services = &compose["services"];
    for name in ["rabbitmq", "feedwire", "consumer"] {
        assert!(services[name].is_object(), "compose service {name}");
    }
    let rabbit = &services["rabbitmq"];
    assert!(s(&rabbit["image"]).starts_with("rabbitmq:3.13-management"));
    let health = arr(&rabbit["healthcheck"]["test"]);
    assert!(
        health.iter().any(|t| t == "rabbitmq-diagnostics"),
        "rabbitmq healthcheck uses rabbitmq-diagnostics: {health:?}"
    );
    assert!(
        arr(&rabbit["ports"])
            .iter()
            .any(|p| s(p).ends_with(":15672")),
        "management UI published"
    );

    let dockerfile = Dockerfile::parse(&read("Dockerfile"));
    for name in ["feedwire", "consumer"] {
        let service = &services[name];
        assert_eq!(
            service["depends_on"]["rabbitmq"]["condition"], "service_healthy",
            "{name} waits for a healthy rabbitmq"
        );
        assert!(
            s(&service["environment"][WORKER_SECRET_KEY]).starts_with("amqp://"),
            "{name} gets {WORKER_SECRET_KEY}"
        );
        let build = &service["build"];
        let context = root().join("deploy").join(s(&build["context"]));
        let file = context.join(build["dockerfile"].as_str().unwrap_or("Dockerfile"));
        assert_eq!(
            file.canonicalize().unwrap(),
            root().join("Dockerfile").canonicalize().unwrap(),
            "{name} builds the repository's Dockerfile"
        );
        if let Some(target) = build["target"].as_str() {
            assert!(
                dockerfile
                    .stages
                    .iter()
                    .any(|st| st.name.as_deref() == Some(target)),
                "{name} builds stage {target}, which the Dockerfile lacks"
            );
        }
    }

    let worker = &services["feedwire"];
    assert!(
        arr(&worker["volumes"])
            .iter()
            .any(|v| s(v).split(':').nth(1) == Some(STORE_DIR)),
        "a volume for {STORE_DIR}"
    );
    assert!(
        arr(&worker["ports"])
            .iter()
            .any(|p| s(p).ends_with(&format!(":{OPS_PORT}"))),
        "ops port {OPS_PORT} published"
    );

    let consumer = &services["consumer"];
    let command: Vec<&str> = arr(&consumer["command"]).iter().map(s).collect();
    let queue = command.windows(2).find(|w| w[0] == "--queue").map(|w| w[1]);
    let defs = definitions();
    assert!(
        queue.is_some_and(|q| arr(&defs["queues"]).iter().any(|d| d["name"] == q)),
        "the compose consumer reads a queue from definitions.json: {command:?}"
    );
}

// --- Dockerfile ------------------------------------------------------------

struct Instruction {
    op: String,
    args: String,
}

struct Stage {
    from: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

struct Dockerfile {
    stages: Vec<Stage>,
}

impl Dockerfile {
    /// Logical instructions (continuations joined, comments dropped), by stage.
    fn parse(text: &str) -> Dockerfile {
        let mut logical = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
                continue;
            }
            match trimmed.strip_suffix('\\') {
                Some(part) => {
                    current.push_str(part);
                    current.push(' ');
                }
                None => {
                    current.push_str(trimmed);
                    logical.push(std::mem::take(&mut current));
                }
            }
        }
        let mut stages: Vec<Stage> = Vec::new();
        for line in logical {
            let (op, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
            let op = op.to_ascii_uppercase();
            let args = args.trim().to_string();
            if op == "FROM" {
                let words: Vec<&str> = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let name = match words.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                    _ => None,
                };
                stages.push(Stage {
                    from: words.first().unwrap_or(&"").to_string(),
                    name,
                    instructions: Vec::new(),
                });
            } else if let Some(stage) = stages.last_mut() {
                stage.instructions.push(Instruction { op, args });
            }
        }
        assert!(!stages.is_empty(), "Dockerfile has no FROM");
        Dockerfile { stages }
    }
}

impl Stage {
    fn all(&self, op: &str) -> impl Iterator<Item = &str> {
        self.instructions
            .iter()
            .filter(move |i| i.op == op)
            .map(|i| i.args.as_str())
    }

    fn last(&self, op: &str) -> Option<&str> {
        self.all(op).last()
    }

    /// `ENV K=V` / `ENV K V` values.
    fn env(&self, key: &str) -> Option<String> {
        self.all("ENV").find_map(|args| {
            if let Some(rest) = args.strip_prefix(&format!("{key}=")) {
                return Some(
                    rest.split_whitespace()
                        .next()?
                        .trim_matches('"')
                        .to_string(),
                );
            }
            let mut words = args.split_whitespace();
            (words.next() == Some(key))
                .then(|| words.next().map(|v| v.trim_matches('"').to_string()))?
        })
    }
}

fn json_array(args: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|_| panic!("`{args}` is not an exec-form (JSON array) instruction"))
}

fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    name.is_empty() || name == "root" || name == "0"
}

#[test]
fn dockerfile_final_stage_is_nonroot_exec_form_and_configured() {
    let text = read("Dockerfile");
    let dockerfile = Dockerfile::parse(&text);
    // Instructions only: comments may explain why OpenSSL is absent.
    for stage in &dockerfile.stages {
        for i in &stage.instructions {
            let lower = i.args.to_ascii_lowercase();
            assert!(
                !lower.contains("openssl") && !lower.contains("libssl"),
                "rustls only, no OpenSSL: {} {}",
                i.op,
                i.args
            );
        }
    }
    let last = dockerfile.stages.last().unwrap();

    // Non-root: a USER that is not root, or a :nonroot base without a USER back to root.
    match last.last("USER") {
        Some(user) => assert!(!is_root_user(user), "final stage runs as {user}"),
        None => assert!(
            last.from.ends_with(":nonroot"),
            "final stage must not run as root"
        ),
    }
    assert!(
        last.from.contains("distroless"),
        "distroless runtime: {}",
        last.from
    );

    let entrypoint = last
        .last("ENTRYPOINT")
        .expect("ENTRYPOINT in the final stage");
    let entrypoint = json_array(entrypoint);
    assert_eq!(entrypoint, ["/usr/local/bin/feedwire"]);
    assert_eq!(json_array(last.last("CMD").expect("CMD")), ["run"]);
    assert_eq!(last.last("STOPSIGNAL"), Some("SIGTERM"));
    assert!(
        last.all("EXPOSE")
            .any(|e| e.split_whitespace().any(|p| p == OPS_PORT.to_string())),
        "EXPOSE {OPS_PORT}"
    );
    assert!(
        last.all("VOLUME").any(|v| v.contains(STORE_DIR)),
        "VOLUME {STORE_DIR}"
    );

    // The binary and a config at the path FEEDWIRE_CONFIG names.
    let config_path = last.env("FEEDWIRE_CONFIG").expect("ENV FEEDWIRE_CONFIG");
    let copies: Vec<Vec<&str>> = last
        .all("COPY")
        .map(|c| {
            c.split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect()
        })
        .collect();
    let config_copy = copies
        .iter()
        .find(|words| words.last() == Some(&config_path.as_str()))
        .unwrap_or_else(|| panic!("no COPY to {config_path}"));
    assert_eq!(config_copy.len(), 2, "one source for the config");
    assert!(
        root().join(config_copy[0]).is_file(),
        "config source {} exists",
        config_copy[0]
    );
    assert!(
        copies
            .iter()
            .any(|w| w.last() == Some(&entrypoint[0].as_str())),
        "the final stage copies the binary to {}",
        entrypoint[0]
    );
    // Every --from names an earlier stage.
    for stage in &dockerfile.stages {
        for copy in stage.all("COPY") {
            if let Some(from) = copy
                .split_whitespace()
                .find_map(|w| w.strip_prefix("--from="))
            {
                assert!(
                    dockerfile
                        .stages
                        .iter()
                        .any(|st| st.name.as_deref() == Some(from)),
                    "COPY --from={from} names no stage"
                );
            }
        }
    }
    for stage in &dockerfile.stages {
        for run in stage.all("RUN") {
            if run.contains("cargo build") {
                assert!(run.contains("--locked"), "cargo build --locked: {run}");
            }
        }
    }
}

/// The dependency-caching step builds on stub sources; cargo rejects a manifest
/// whose declared targets have no file, so every declared target needs a stub.
#[test]
fn dockerfile_stubs_cover_every_cargo_target() {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml");
    let mut paths = BTreeSet::new();
    let lib = manifest
        .get("lib")
        .and_then(|l| l.get("path"))
        .and_then(|p| p.as_str());
    paths.insert(lib.unwrap_or("src/lib.rs").to_string());
    for (section, dir) in [
        ("bin", "src/bin"),
        ("bench", "benches"),
        ("example", "examples"),
        ("test", "tests"),
    ] {
        for target in manifest
            .get(section)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let path = match target.get("path").and_then(|p| p.as_str()) {
                Some(path) => path.to_string(),
                None if section == "bin"
                    && target.get("name").and_then(|n| n.as_str())
                        == manifest["package"].get("name").and_then(|n| n.as_str()) =>
                {
                    "src/main.rs".to_string()
                }
                None => format!("{dir}/{}.rs", target["name"].as_str().unwrap()),
            };
            paths.insert(path);
        }
    }
    paths.insert("examples/consumer.rs".to_string());

    let dockerfile = Dockerfile::parse(&read("Dockerfile"));
    let builder = &dockerfile.stages[0];
    let runs: Vec<&str> = builder.all("RUN").collect();
    let stub_step = runs
        .iter()
        .find(|r| r.contains("cargo fetch"))
        .expect("a dependency step with cargo fetch");
    let copied: Vec<&str> = builder
        .all("COPY")
        .filter_map(|c| c.split_whitespace().next())
        .collect();
    for path in &paths {
        assert!(
            stub_step.contains(&format!("> {path}")),
            "the Dockerfile's stub step does not create {path}"
        );
        let top = path.split('/').next().unwrap();
        assert!(
            copied.contains(&top),
            "the builder never copies the real {top}/ after the stubs"
        );
    }
    assert!(
        copied.first() == Some(&"Cargo.toml"),
        "the manifest is copied before the sources, so dependencies stay cached"
    );
}

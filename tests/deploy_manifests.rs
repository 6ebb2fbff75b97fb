//! Cross-file checks of deploy/ (k8s overlays, compose, the container config,
//! the RabbitMQ definitions) against each other and against the binary: what
//! a linter of one file cannot see. Hardening field by field is left to
//! kube-linter and hadolint. No Docker, cluster, broker or kubectl needed: the
//! kustomizations are rendered here (`resources` only; anything else fails).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use feedwire::config::{BROKER_URL_ENV, Config, STORE_URL_ENV};
use serde::Deserialize;
use serde_json::Value;

const CONFIG_ENV: &str = "FEEDWIRE_CONFIG";
const OVERLAYS: [&str; 2] = ["sqlite", "postgres"];

fn path(rel: impl AsRef<Path>) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: impl AsRef<Path>) -> String {
    let path = path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Every non-empty YAML document of a file, with `<<` merge keys applied.
fn yaml_docs(rel: impl AsRef<Path>) -> Vec<Value> {
    let text = read(rel);
    let docs = serde_norway::Deserializer::from_str(&text).map(|doc| {
        let mut value = serde_norway::Value::deserialize(doc).expect("YAML");
        value.apply_merge().expect("merge keys");
        serde_json::to_value(value).unwrap()
    });
    docs.filter(|doc| !doc.is_null()).collect()
}

/// `v` at a JSON pointer such as `/spec/replicas`; Null when absent.
fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The item of a list whose `key` is `value`.
fn item<'a>(list: &'a Value, key: &str, value: impl Into<Value>) -> Option<&'a Value> {
    let value = value.into();
    arr(list).iter().find(|i| i[key] == value)
}

/// The objects `kubectl kustomize <dir>` emits.
fn render(dir: &Path) -> Vec<Value> {
    let kustomization = &yaml_docs(dir.join("kustomization.yaml"))[0];
    for key in kustomization.as_object().unwrap().keys() {
        let known = ["apiVersion", "kind", "resources", "labels", "images"];
        assert!(known.contains(&key.as_str()), "teach render() {key}");
    }
    let mut objects: Vec<Value> = Vec::new();
    for resource in arr(&kustomization["resources"]) {
        let path = dir.join(s(resource));
        let found = if path.is_dir() {
            render(&path)
        } else {
            yaml_docs(&path)
        };
        for object in found {
            let id = |o: &Value| (o["kind"].clone(), o["metadata"]["name"].clone());
            assert!(objects.iter().all(|o| id(o) != id(&object)), "twice");
            objects.push(object);
        }
    }
    objects
}

fn kustomize(dir: &str) -> Vec<Value> {
    render(&path("deploy/k8s").join(dir))
}

fn overlay(name: &str) -> Vec<Value> {
    kustomize(&format!("overlays/{name}"))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let mut found = objects.iter().filter(|o| o["kind"] == kind);
    let found = found.find(|o| o["metadata"]["name"] == name);
    found.unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The one workload whose pods carry component=worker.
fn worker(objects: &[Value]) -> &Value {
    let label = "/spec/template/metadata/labels/app.kubernetes.io~1component";
    let is_worker = |o: &&Value| at(o, label) == "worker";
    let workers: Vec<_> = objects.iter().filter(is_worker).collect();
    assert_eq!(workers.len(), 1, "one worker workload");
    workers[0]
}

fn pod(workload: &Value) -> &Value {
    at(workload, "/spec/template/spec")
}

fn feedwire_container(workload: &Value) -> &Value {
    item(&pod(workload)["containers"], "name", "feedwire").unwrap()
}

/// Whether a `matchLabels` selector picks the pods of `workload`.
fn selects(selector: &Value, workload: &Value) -> bool {
    let labels = at(workload, "/spec/template/metadata/labels");
    let map = selector.as_object().expect("a label selector");
    !map.is_empty() && map.iter().all(|(k, v)| labels[k] == *v)
}

fn mount_at<'a>(container: &'a Value, dir: &Path) -> Option<&'a Value> {
    let mut mounts = arr(&container["volumeMounts"]).iter();
    mounts.find(|m| Path::new(s(&m["mountPath"])) == dir)
}

fn container_config() -> Config {
    let config = Config::from_toml(&read("deploy/feedwire.container.toml"), None);
    config.unwrap_or_else(|e| panic!("deploy/feedwire.container.toml: {e}"))
}

fn store_dir() -> PathBuf {
    let store = container_config().store.path;
    store.parent().unwrap().to_path_buf()
}

fn compose() -> Value {
    yaml_docs("deploy/compose.yaml").remove(0)
}

/// The compose services that run the worker (those given its config).
fn compose_workers(compose: &Value) -> Vec<(&String, &Value)> {
    let services = compose["services"].as_object().unwrap().iter();
    let workers = services.filter(|(_, v)| v["environment"][CONFIG_ENV].is_string());
    let workers: Vec<_> = workers.collect();
    assert_eq!(workers.len(), 2, "a PostgreSQL and a SQLite worker");
    workers
}

/// The source of what a compose service mounts at `dir`.
fn mounted_at<'a>(service: &'a Value, dir: &Path) -> Option<&'a str> {
    let mut mounts = arr(&service["volumes"]).iter().map(|m| s(m).split(':'));
    mounts.find_map(|mut m| (m.clone().nth(1).map(Path::new) == Some(dir)).then(|| m.next())?)
}

/// `FEEDWIRE_*` names in string literals of the Rust files under `dir`.
fn env_names_in(dir: &Path, names: &mut BTreeSet<String>) {
    for path in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
        if path.is_dir() {
            env_names_in(&path, names);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("\"FEEDWIRE_") {
                let name = text[i + 1..].split('"').next().unwrap();
                if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    names.insert(name.to_string());
                }
            }
        }
    }
}

fn secret_keys(objects: &[Value], name: &str) -> BTreeSet<String> {
    let secret = find(objects, "Secret", name);
    let data = secret["data"].as_object();
    let keys = secret["stringData"].as_object().or(data);
    keys.into_iter().flat_map(|m| m.keys().cloned()).collect()
}

/// The `FEEDWIRE_*` variables a container gets; its Secret references resolve.
fn feedwire_vars(objects: &[Value], container: &Value) -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    for from in arr(&container["envFrom"]) {
        vars.extend(secret_keys(objects, s(&from["secretRef"]["name"])));
    }
    for var in arr(&container["env"]) {
        let key = at(var, "/valueFrom/secretKeyRef");
        if !key.is_null() {
            assert_eq!(key["key"], var["name"], "key named as the variable");
            let keys = secret_keys(objects, s(&key["name"]));
            assert!(keys.contains(s(&key["key"])), "{var}");
        }
        vars.insert(s(&var["name"]).to_string());
    }
    vars.retain(|v| v.starts_with("FEEDWIRE_"));
    vars
}

// ---------------------------------------------------------------------------

/// Every manifest beside a kustomization is one of its resources (the other
/// tests find the objects they check in the overlays' renders).
#[test]
fn overlays_render_every_manifest() {
    // `kubectl apply -k deploy/k8s` is still the single SQLite worker.
    assert_eq!(kustomize("."), overlay("sqlite"));
    for dir in ["base", "overlays/sqlite", "overlays/postgres"] {
        let dir = path("deploy/k8s").join(dir);
        let kustomization = yaml_docs(dir.join("kustomization.yaml")).remove(0);
        let listed: Vec<&str> = arr(&kustomization["resources"]).iter().map(s).collect();
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name());
        for file in files {
            let file = file.to_str().unwrap();
            let manifest = file.ends_with(".yaml") && file != "kustomization.yaml";
            let ok = !manifest || listed.contains(&file);
            assert!(ok, "{dir:?}: {file} is not listed");
        }
    }
}

/// In both overlays FEEDWIRE_CONFIG names a mounted ConfigMap key that
/// carries deploy/feedwire.container.toml (the image's config) verbatim.
#[test]
fn the_worker_reads_the_container_config() {
    let file = read("deploy/feedwire.container.toml");
    for name in OVERLAYS {
        let objects = overlay(name);
        let workload = worker(&objects);
        let c = feedwire_container(workload);
        let config = item(&c["env"], "name", CONFIG_ENV).unwrap();
        let config = PathBuf::from(s(&config["value"]));
        let mount = mount_at(c, config.parent().unwrap()).expect("mounted");
        let volume = mount["name"].clone();
        let volume = item(&pod(workload)["volumes"], "name", volume);
        let config_map = &volume.unwrap()["configMap"];
        let file_name = config.file_name().unwrap().to_str().unwrap();
        let key = &item(&config_map["items"], "path", file_name).unwrap()["key"];
        let data = &find(&objects, "ConfigMap", s(&config_map["name"]))["data"];
        assert_eq!(s(&data[s(key)]).trim_end(), file.trim_end(), "{name}");
    }
}

#[test]
fn shutdown_grace_fits_in_the_orchestrators_grace() {
    let grace = container_config().pipeline.shutdown_grace;
    for name in OVERLAYS {
        let objects = overlay(name);
        let k8s = pod(worker(&objects))["terminationGracePeriodSeconds"].as_u64();
        let fits = k8s.is_some_and(|k8s| k8s > grace.as_secs());
        assert!(fits, "overlays/{name}: {k8s:?}");
    }
    let compose = compose();
    for (name, service) in compose_workers(&compose) {
        let stop = humantime::parse_duration(s(&service["stop_grace_period"]));
        assert!(stop.as_ref().is_ok_and(|t| *t > grace), "{name}: {stop:?}");
    }
}

/// Every variable and Secret key given to the worker is one the binary reads,
/// and each mode gets what it needs.
#[test]
fn manifests_set_only_variables_the_binary_reads() {
    let mut by_binary = BTreeSet::new();
    env_names_in(&path("src"), &mut by_binary);

    for name in OVERLAYS {
        let objects = overlay(name);
        let workload = worker(&objects);
        let c = feedwire_container(workload);
        let mut want = BTreeSet::from([BROKER_URL_ENV, CONFIG_ENV].map(String::from));
        if name == "postgres" {
            want.insert(STORE_URL_ENV.into());
        }
        assert!(want.is_subset(&by_binary), "src/ reads {by_binary:?}");
        assert_eq!(feedwire_vars(&objects, c), want, "overlays/{name}");
    }

    let compose = compose();
    for (name, service) in compose_workers(&compose) {
        let env = service["environment"].as_object().unwrap();
        let mut vars = env.keys().filter(|k| k.starts_with("FEEDWIRE_"));
        assert!(vars.all(|k| by_binary.contains(k)), "{name}: {env:?}");
        let config = format!("./feedwire.container.toml:{}:ro", s(&env[CONFIG_ENV]));
        let volumes = arr(&service["volumes"]);
        assert!(volumes.iter().any(|v| s(v) == config), "{name}: {config}");
    }
}

#[test]
fn probes_and_the_service_use_the_ops_port_the_config_listens_on() {
    let listen = container_config().ops.listen.expect("[ops] listen");
    assert!(listen.ip().is_unspecified(), "unreachable: {listen}");
    let port = Some(u64::from(listen.port()));
    for name in OVERLAYS {
        let objects = overlay(name);
        let workload = worker(&objects);
        let c = feedwire_container(workload);
        let resolve = |p: &Value| {
            let named = || item(&c["ports"], "name", p.clone())?["containerPort"].as_u64();
            p.as_u64().or_else(named)
        };
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let http = &c[probe]["httpGet"];
            assert_eq!(http["path"], path, "{name} {probe}");
            assert_eq!(resolve(&http["port"]), port, "{name} {probe}");
        }
        let service = find(&objects, "Service", "feedwire");
        assert!(selects(&service["spec"]["selector"], workload));
        let scraped = at(service, "/metadata/annotations/prometheus.io~1port");
        assert_eq!(s(scraped).parse().ok(), port, "{name}: scraped port");
        let mut targets = arr(&service["spec"]["ports"]).iter();
        assert!(targets.any(|p| resolve(&p["targetPort"]) == port), "{name}");
    }
}

/// Both overlays run the same worker: only the store and the spreading differ.
#[test]
fn the_two_overlays_run_the_same_worker_pod() {
    let comparable = |name: &str| {
        let mut pod = pod(worker(&overlay(name))).clone();
        let security = pod["securityContext"].as_object_mut().unwrap();
        security.retain(|k, _| !k.starts_with("fsGroup"));
        pod.as_object_mut().unwrap().remove("affinity");
        let c = &mut pod["containers"][0];
        let env = c["env"].as_array_mut().unwrap();
        env.retain(|v| v["name"] != STORE_URL_ENV);
        let mounts = c["volumeMounts"].as_array_mut().unwrap();
        mounts.retain(|m| Path::new(s(&m["mountPath"])) != store_dir());
        pod
    };
    assert_eq!(comparable("sqlite"), comparable("postgres"));
}

#[test]
fn sqlite_overlay_is_one_writer_with_its_store_on_a_volume() {
    let objects = overlay("sqlite");
    let worker = worker(&objects);
    assert_eq!(worker["kind"], "StatefulSet", "at most one pod at a time");
    assert_eq!(at(worker, "/spec/replicas"), 1, "single-writer");
    let store = mount_at(feedwire_container(worker), &store_dir()).unwrap();
    let mut claims = arr(at(worker, "/spec/volumeClaimTemplates")).iter();
    assert!(claims.any(|t| t["metadata"]["name"] == store["name"]));
    let pdb = &find(&objects, "PodDisruptionBudget", "feedwire")["spec"];
    assert!(selects(&pdb["selector"]["matchLabels"], worker));
    // With one replica, either would block node drains forever.
    assert!(pdb["minAvailable"] != 1 && pdb["maxUnavailable"] != 0);
}

#[test]
fn postgres_overlay_keeps_two_of_three_workers_serving() {
    let objects = overlay("postgres");
    let worker = worker(&objects);
    assert_eq!(worker["kind"], "Deployment");
    assert_eq!(at(worker, "/spec/replicas"), 3);
    let pdb = &find(&objects, "PodDisruptionBudget", "feedwire")["spec"];
    assert_eq!(pdb["minAvailable"], 2);
    assert!(selects(&pdb["selector"]["matchLabels"], worker));
    let consumer = find(&objects, "Deployment", "feedwire-consumer");
    assert!(!selects(&pdb["selector"]["matchLabels"], consumer));
    // A rollout never goes below what the PDB promises for drains.
    let down = at(worker, "/spec/strategy/rollingUpdate/maxUnavailable");
    assert!(down.as_u64().is_some_and(|n| 3 - n >= 2), "{down}");
    // Spread over nodes, preferably.
    let anti = "/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution";
    let spreads = arr(at(pod(worker), anti)).iter().any(|t| {
        let term = &t["podAffinityTerm"];
        let per_node = term["topologyKey"] == "kubernetes.io/hostname";
        per_node && selects(at(term, "/labelSelector/matchLabels"), worker)
    });
    assert!(spreads, "preferred anti-affinity per node");
    // No state on the pod.
    assert!(at(worker, "/spec/volumeClaimTemplates").is_null());
    assert!(mount_at(feedwire_container(worker), &store_dir()).is_none());
}

#[test]
fn compose_scales_the_postgres_worker_and_keeps_sqlite_single() {
    let compose = compose();
    let (services, volumes) = (&compose["services"], &compose["volumes"]);
    let worker = &services["feedwire"];
    assert!(worker.get("container_name").is_none());
    for port in arr(&worker["ports"]) {
        // [[HOST_IP:]HOST_PORT:]PORT, or the long syntax.
        let short = s(port).rsplit(':').nth(1).map(String::from);
        let host = short.or(port.get("published").map(Value::to_string));
        let host = host.unwrap_or_default();
        assert!(host.is_empty() || host.contains('-'), "fixed: {port}");
    }
    assert_eq!(mounted_at(worker, &store_dir()), None, "shared store");

    // The worker reaches the compose PostgreSQL, with its credentials.
    let healthy = at(worker, "/depends_on/postgres/condition");
    assert_eq!(healthy, "service_healthy");
    let pg = &services["postgres"]["environment"];
    let want = ["USER", "PASSWORD", "DB"].map(|k| s(&pg[format!("POSTGRES_{k}")]));
    let url = url::Url::parse(s(&worker["environment"][STORE_URL_ENV])).unwrap();
    let (host, path) = (url.host_str().unwrap(), url.path().trim_start_matches('/'));
    assert_eq!([url.scheme(), host], ["postgres", "postgres"]);
    assert_eq!([url.username(), url.password().unwrap(), path], want);

    // The SQLite worker only in its profile, with its store on a named volume.
    let sqlite = &services["feedwire-sqlite"];
    assert!(!arr(&sqlite["profiles"]).is_empty(), "`up` runs both");
    assert!(sqlite["environment"].get(STORE_URL_ENV).is_none());
    let data = mounted_at(sqlite, &store_dir()).unwrap();
    assert!(volumes.get(data).is_some());
}

#[test]
fn keda_scales_on_a_dead_lettered_quorum_queue_the_worker_fills() {
    let base = kustomize("base");
    let scaled = find(&base, "ScaledObject", "feedwire-consumer");
    let target = &scaled["spec"]["scaleTargetRef"];
    let consumer = find(&base, s(&target["kind"]), s(&target["name"]));
    let trigger = item(&scaled["spec"]["triggers"], "type", "rabbitmq").unwrap();
    let queue_name = s(&trigger["metadata"]["queueName"]);
    let auth = s(&trigger["authenticationRef"]["name"]);
    let auth = find(&base, "TriggerAuthentication", auth);
    let host = item(&auth["spec"]["secretTargetRef"], "parameter", "host").unwrap();
    assert_eq!(host["key"], BROKER_URL_ENV, "KEDA's broker URL");
    assert!(secret_keys(&base, s(&host["name"])).contains(BROKER_URL_ENV));

    // The consumers, in Kubernetes and in compose, read that queue.
    let compose = compose();
    let k8s = &pod(consumer)["containers"][0]["args"];
    for command in [k8s, at(&compose, "/services/consumer/command")] {
        let words: Vec<&str> = arr(command).iter().map(s).collect();
        let queue = words.windows(2).find(|w| w[0] == "--queue");
        assert_eq!(queue.map(|w| w[1]), Some(queue_name), "{command}");
    }

    // A quorum queue, dead-lettering to an exchange that is defined, fed by
    // the worker's exchange. The worker must not redeclare it: its
    // dead-letter arguments would be refused as inequivalent.
    let defs = read("deploy/rabbitmq/definitions.json");
    let defs: Value = serde_json::from_str(&defs).unwrap();
    let queue = item(&defs["queues"], "name", queue_name).expect("defined");
    assert_eq!(queue["arguments"]["x-queue-type"], "quorum");
    let dlx = s(&queue["arguments"]["x-dead-letter-exchange"]);
    assert!(item(&defs["exchanges"], "name", dlx).is_some(), "{dlx:?}");
    let broker = container_config().broker;
    let mut bindings = arr(&defs["bindings"]).iter();
    let exchange = broker.exchange.as_str();
    let bound = bindings.any(|b| b["source"] == exchange && b["destination"] == queue_name);
    assert!(bound, "{queue_name} not bound to {exchange}");
    assert!(broker.queues.iter().all(|q| q.name != queue_name));
}

/// The Dockerfile builds dependencies from stub sources first (so they are
/// cached); cargo refuses a manifest whose declared targets have no file, so
/// every target Cargo.toml declares needs a stub there, or the image build
/// breaks when someone adds a bench.
#[test]
fn dockerfile_stubs_cover_every_cargo_target() {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml");
    let mut paths = BTreeSet::from(["src/lib.rs".to_string(), "examples/consumer.rs".to_string()]);
    for (section, dir) in [
        ("bin", "src/bin"),
        ("bench", "benches"),
        ("example", "examples"),
    ] {
        for target in manifest
            .get(section)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let path = match target.get("path").and_then(|p| p.as_str()) {
                Some(path) => path.to_string(),
                None => format!("{dir}/{}.rs", target["name"].as_str().unwrap()),
            };
            paths.insert(path);
        }
    }
    // The stub step: the RUN instruction (continuation lines joined) that
    // fetches the dependencies.
    let dockerfile = read("Dockerfile").replace("\\\n", " ");
    let stub_step = dockerfile
        .lines()
        .find(|line| line.trim_start().starts_with("RUN") && line.contains("cargo fetch"))
        .expect("a RUN step with cargo fetch that builds from stubs");
    for path in &paths {
        assert!(
            stub_step.contains(&format!("> {path}")),
            "the Dockerfile's stub step does not create {path}"
        );
    }
}

#[test]
fn the_websub_ingress_routes_the_callback_path_to_the_ops_port_only() {
    let objects = kustomize("push");
    let ingress = find(&objects, "Ingress", "feedwire-websub");
    let rule = &arr(&ingress["spec"]["rules"])[0];
    let paths = arr(&rule["http"]["paths"]);
    assert_eq!(paths.len(), 1, "only the callback path is exposed");
    let backend = &paths[0]["backend"]["service"];
    // The Service and the port the base gives the worker's ops endpoint.
    let service = find(&kustomize("base"), "Service", s(&backend["name"])).clone();
    assert!(
        item(
            &service["spec"]["ports"],
            "name",
            s(&backend["port"]["name"])
        )
        .is_some()
    );
    // The container config's [push] example, turned on, is a valid config
    // whose callback path and host are the Ingress's.
    let text = read("deploy/feedwire.container.toml")
        .replace("# enabled = true", "enabled = true")
        .replace("# callback_base", "callback_base");
    let config = Config::from_toml(&text, None).unwrap();
    let base = config.push.active_base().expect("push on").clone();
    assert_eq!(base.path(), s(&paths[0]["path"]));
    assert_eq!(base.host_str(), Some(s(&rule["host"])));
}

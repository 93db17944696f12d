//! `cubist install --print` as a process: it prints the objects of the kustomize base
//! `deploy/`, each a valid object of its Kubernetes type, with a hardened pod, and substitutes
//! the namespace and the image. (`tests/install.rs` compares it with `kubectl kustomize`.)

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn deploy_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy"))
}

fn install(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cubist"))
        .arg("install")
        .args(args)
        .env_remove("CUBIST_LOG")
        .output()
        .expect("run cubist")
}

/// The objects of a YAML text, read the way `cubist validate` reads manifests.
fn objects(file: &str, text: &str) -> Vec<Value> {
    cubist::model::yaml::parse_documents(file, text)
        .unwrap_or_else(|d| panic!("{file} is not YAML: {d:?}"))
        .into_iter()
        .map(|p| p.json)
        .collect()
}

/// The objects `cubist install --print <args>` prints.
fn printed(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--print"];
    all.extend(args);
    let out = install(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cubist install failed: {stderr}");
    objects("stdout", &String::from_utf8(out.stdout).expect("UTF-8"))
}

/// The files `deploy/kustomization.yaml` lists, in order.
fn kustomization_resources() -> Vec<String> {
    let path = deploy_dir().join("kustomization.yaml");
    let k = &objects(
        "kustomization.yaml",
        &std::fs::read_to_string(path).unwrap(),
    )[0];
    k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_string())
        .collect()
}

#[test]
fn print_is_the_objects_of_the_kustomize_base() {
    let listed = kustomization_resources();
    let mut on_disk: Vec<String> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    on_disk.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted, on_disk,
        "every deploy/*.yaml is a resource of the base"
    );
    let mut expected = Vec::new();
    for file in &listed {
        let text = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
        expected.extend(objects(file, &text));
    }
    assert_eq!(printed(&[]), expected);
}

/// `value` without null members: what k8s-openapi leaves out when it writes an absent field.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The first path where `b` differs from `a`.
fn difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .find_map(|(k, v)| {
                difference(v, y.get(k).unwrap_or(&Value::Null), &format!("{at}.{k}"))
            })
            .or_else(|| (x.len() != y.len()).then(|| format!("{at} (fields added)"))),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| difference(v, w, &format!("{at}[{i}]"))),
        _ => (a != b).then(|| at.to_string()),
    }
}

/// `object` read as `T` and written back: k8s-openapi ignores unknown fields, so a field that
/// is misspelt or misplaced would be lost here.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(object: &Value) -> Value {
    let typed: T = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("not a valid {}: {e}\n{object:#}", object["kind"]));
    without_nulls(&serde_json::to_value(typed).unwrap())
}

#[test]
fn every_object_is_its_kubernetes_type_with_no_unknown_field() {
    let objects = printed(&[]);
    for object in &objects {
        let back = match object["kind"].as_str().unwrap_or_default() {
            "Namespace" => round_trip::<Namespace>(object),
            "ServiceAccount" => round_trip::<ServiceAccount>(object),
            "ClusterRole" => round_trip::<ClusterRole>(object),
            "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(object),
            "Role" => round_trip::<Role>(object),
            "RoleBinding" => round_trip::<RoleBinding>(object),
            "ConfigMap" => round_trip::<ConfigMap>(object),
            "Deployment" => round_trip::<Deployment>(object),
            "Service" => round_trip::<Service>(object),
            "PodDisruptionBudget" => round_trip::<PodDisruptionBudget>(object),
            other => panic!("no typed check for kind {other}; add it here"),
        };
        if let Some(lost) = difference(object, &back, "") {
            panic!(
                "{} {}: {lost} is lost reading it as its type",
                object["kind"], object["metadata"]["name"]
            );
        }
    }
}

fn deployment(objects: &[Value]) -> Deployment {
    let d = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    serde_json::from_value(d.clone()).unwrap()
}

#[test]
fn the_pod_is_hardened_and_takes_credentials_only_from_secrets() {
    let objects = printed(&[]);
    let pod = deployment(&objects).spec.template.spec.unwrap();
    let psc = pod.security_context.as_ref().unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.run_as_user, Some(65532));
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("cubist"));
    let [c] = &pod.containers[..] else {
        panic!("one container")
    };
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()])
    );
    let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"));
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(probe_path(&c.liveness_probe).as_deref(), Some("/healthz"));
    assert_eq!(probe_path(&c.readiness_probe).as_deref(), Some("/readyz"));

    let args = c.args.clone().unwrap();
    assert_eq!(args[0], "serve");
    assert!(
        args.contains(&"--listen=0.0.0.0:8080".to_string()),
        "{args:?}"
    );
    // The cache directory is the only writable path besides /tmp: both are emptyDirs.
    let cache = args
        .iter()
        .find_map(|a| a.strip_prefix("--cache-dir="))
        .expect("--cache-dir");
    let volumes = pod.volumes.clone().unwrap();
    for path in [cache, "/tmp"] {
        let mount = c
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == path)
            .unwrap_or_else(|| panic!("{path} is mounted"));
        let volume = volumes.iter().find(|v| v.name == mount.name).unwrap();
        assert!(volume.empty_dir.is_some(), "{path} is an emptyDir");
    }
    // Every `$(VAR)` in the arguments is a key of the ConfigMap the pod reads.
    let config = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    for arg in &args {
        if let Some((_, var)) = arg.split_once("$(") {
            let var = var.trim_end_matches(')');
            assert!(
                config["data"][var].is_string(),
                "{var} is not in the ConfigMap"
            );
        }
    }
    // Credentials: from a Secret, never a value in the manifests.
    let env = c.env.clone().unwrap();
    for name in [
        "CUBIST_GIT_TOKEN",
        "CUBIST_WEBHOOK_SECRET",
        "CUBIST_GITHUB_TOKEN",
    ] {
        let var = env.iter().find(|e| e.name == name).expect(name);
        assert!(var.value.is_none(), "{name} has a value");
        let secret = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref());
        assert!(secret.is_some(), "{name} is not read from a Secret");
        assert!(
            config["data"].get(name).is_none(),
            "{name} is in the ConfigMap"
        );
    }
}

#[test]
fn namespace_and_image_are_substituted() {
    let image = "registry.example.com/ml/cubist@sha256:0123abcd";
    let objects = printed(&["--namespace", "ml-ops", "--image", image]);
    let cluster_scoped = ["Namespace", "ClusterRole", "ClusterRoleBinding"];
    for o in &objects {
        let kind = o["kind"].as_str().unwrap();
        let ns = &o["metadata"]["namespace"];
        if cluster_scoped.contains(&kind) {
            assert!(ns.is_null(), "{kind} is cluster-scoped");
        } else {
            assert_eq!(ns, "ml-ops", "{kind}");
        }
    }
    let namespace = objects.iter().find(|o| o["kind"] == "Namespace").unwrap();
    assert_eq!(namespace["metadata"]["name"], "ml-ops");
    let binding = objects
        .iter()
        .find(|o| o["kind"] == "ClusterRoleBinding")
        .unwrap();
    assert_eq!(binding["subjects"][0]["namespace"], "ml-ops");
    let pod = deployment(&objects).spec.template.spec.unwrap();
    assert_eq!(pod.containers[0].image.as_deref(), Some(image));
    let text = String::from_utf8(install(&["--print", "--namespace", "ml-ops"]).stdout).unwrap();
    assert!(!text.contains("cubist-system"), "{text}");
}

#[test]
fn bad_arguments_are_refused_and_nothing_is_printed() {
    for (args, says) in [
        (
            &["--print", "--namespace", "ML_ops"][..],
            "--namespace `ML_ops`",
        ),
        (
            &["--print", "--image", "x\n  command: [sh]"],
            "--image `x\\n",
        ),
        (&[], "--print"),
    ] {
        let out = install(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed something");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// Every kind `cubist render` writes for examples-repo (both clusters) is granted by ClusterRole
/// `cubist` with the verbs an apply and a prune use; a kind the blueprints start rendering
/// without a rule here fails this test. Resources are the kinds' plural names (each is the
/// lowercase kind + `s` for what cubist renders).
#[test]
fn the_cluster_role_grants_every_kind_cubist_renders() {
    let out_dir = tempfile::tempdir().unwrap();
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples-repo");
    let out = Command::new(env!("CARGO_BIN_EXE_cubist"))
        .args(["render", repo, "--out"])
        .arg(out_dir.path())
        .output()
        .expect("run cubist render");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rendered = std::collections::BTreeSet::new();
    let mut stack = vec![out_dir.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                // `<group>_<Kind>_<name>.yaml`; the core group is written `core`.
                let mut parts = name.splitn(3, '_');
                if let (Some(group), Some(kind), Some(_)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    let group = if group == "core" { "" } else { group };
                    rendered.insert((group.to_string(), kind.to_lowercase() + "s"));
                }
            }
        }
    }
    assert!(rendered.len() > 10, "{rendered:?}");
    let role = printed(&[])
        .into_iter()
        .find(|o| o["kind"] == "ClusterRole")
        .expect("a ClusterRole");
    let role: ClusterRole = serde_json::from_value(role).unwrap();
    let rules = role.rules.unwrap_or_default();
    for (group, resource) in &rendered {
        for verb in ["get", "list", "create", "patch", "delete"] {
            assert!(
                rules.iter().any(|r| {
                    r.api_groups.iter().flatten().any(|g| g == group)
                        && r.resources.iter().flatten().any(|x| x == resource)
                        && r.resource_names.is_none()
                        && r.verbs.iter().any(|v| v == verb)
                }),
                "ClusterRole cubist does not grant `{verb}` on {group}/{resource}"
            );
        }
    }
}

//! The `tern.toml` the Helm chart renders (`helm/tern/ci/smoke-values.yaml`, written into
//! `$TERN_CHART_RENDERED` by `helm/tern/ci/check.sh`) run as three local `tern` processes on one
//! PostgreSQL: the binary accepts every key the chart writes, the members form a cluster, and
//! the PROXY protocol the chart turned on refuses a client that is not the load balancer. What
//! differs per pod comes from the environment, as in the pods: the node id (the entrypoint's
//! job there), the addresses (127.0.0.1:0 here), the data directory, the cluster certificate
//! files (a Secret's mount there) and the secrets. `.ci/run` renders the chart and runs this.

use std::{path::Path, time::Duration};

use tern_tests::{
    Tern,
    cluster::{Scene, TOKEN, balanced, wait},
};

#[test]
#[ignore = "needs the chart rendered by helm/tern/ci/check.sh into TERN_CHART_RENDERED (.ci/run does)"]
fn the_configuration_the_chart_renders_forms_a_cluster() {
    let rendered = std::env::var("TERN_CHART_RENDERED")
        .expect("TERN_CHART_RENDERED: run helm/tern/ci/check.sh with it set first");
    let toml = Path::new(&rendered).join("smoke.toml");
    let toml = toml.to_str().expect("utf8").to_string();
    assert!(Path::new(&toml).exists(), "{toml} was not rendered");
    let scene = Scene::new(3);
    let url = scene.pg.url();
    let mut nodes: Vec<Tern> = Vec::new();
    for id in 1..=3u64 {
        let dir = scene.dirs[id as usize - 1].path();
        let data = dir.join("data").display().to_string();
        let file = |name: String| scene.certs.join(name).display().to_string();
        let (ca, cert, key) = (
            file("ca.pem".into()),
            file(format!("node-{id}.pem")),
            file(format!("node-{id}.key")),
        );
        let id_s = id.to_string();
        let join = nodes.first().map(|n| n.addr("cluster").to_string());
        let mut env = vec![
            ("TERN_SERVER__DATA_DIR", data.as_str()),
            ("TERN_STORE__POSTGRES_URL", url.as_str()),
            ("TERN_BOOTSTRAP_ADMIN_TOKEN", TOKEN),
            ("TERN_CLUSTER__NODE_ID", id_s.as_str()),
            ("TERN_LISTENERS__CLUSTER", "127.0.0.1:0"),
            ("TERN_CLUSTER__CA_FILE", ca.as_str()),
            ("TERN_CLUSTER__CERTIFICATE", cert.as_str()),
            ("TERN_CLUSTER__PRIVATE_KEY", key.as_str()),
        ];
        if let Some(j) = &join {
            env.push(("TERN_CLUSTER__JOIN", j.as_str()));
        }
        // Pod 0 starts the cluster (the entrypoint adds --cluster-init there).
        let mut args = vec!["--config", toml.as_str()];
        if id == 1 {
            args.push("--cluster-init");
        }
        let mut t = Tern::start(dir, &args, &env).expect("tern starts on the rendered config");
        t.expect_error("openraft::replication");
        t.expect_error("while requesting vote");
        nodes.push(t);
    }
    let s = wait(&nodes[0], 60, "three members with their shares", |s| {
        balanced(s, &[1, 2, 3])
    });
    println!("the rendered configuration formed a cluster: {s}");
    // The chart requires the PROXY protocol from 10.0.0.0/8: a direct client is closed unheard.
    let mut direct = std::net::TcpStream::connect(nodes[1].addr("smtp")).expect("connect");
    direct
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut direct, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "a direct client got {:?}", &buf[..n]);
    for n in nodes {
        n.stop().expect("clean stop");
    }
}

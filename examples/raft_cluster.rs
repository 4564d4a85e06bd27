//! A three-node openraft cluster in one process, each node's raft log an Interstice log.
//!
//! The nodes talk through an in-memory router that calls the target node's `Raft` directly.
//! The example writes through the leader, stops a follower, writes more, restarts the
//! follower from its directory and waits for it to catch up; then it prints every node's
//! keys and checks that they are equal.
//!
//! Run it with `cargo run --features openraft --example raft_cluster`.

use std::collections::BTreeMap;
use std::error::Error;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use interstice::Options;
use interstice::raft::LogStore;
use interstice::raft::kv::{KvConfig, KvRequest, KvStateMachine};
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, SnapshotPolicy};
use parking_lot::Mutex;

type Raft = openraft::Raft<KvConfig>;
type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

const WAIT: Duration = Duration::from_secs(10);

/// The in-memory network: the running nodes by id.
#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, Raft>>>,
}

impl Router {
    fn node(&self, id: u64) -> Result<Raft, Unreachable> {
        self.nodes.lock().get(&id).cloned().ok_or_else(|| {
            let down = io::Error::new(io::ErrorKind::NotConnected, format!("node {id} is down"));
            Unreachable::new(&down)
        })
    }
}

/// A connection from one node to `target`, through the router.
struct Connection {
    router: Router,
    target: u64,
}

impl RaftNetworkFactory<KvConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection {
            router: self.clone(),
            target,
        }
    }
}

impl RaftNetwork<KvConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<KvConfig>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        let node = self.router.node(self.target)?;
        let target = self.target;
        node.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<KvConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        let node = self.router.node(self.target)?;
        let target = self.target;
        node.install_snapshot(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        let node = self.router.node(self.target)?;
        let target = self.target;
        node.vote(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
    }
}

/// One running node: its raft handle and a view of its state machine.
struct Node {
    raft: Raft,
    state: KvStateMachine,
}

fn node_dir(base: &Path, id: u64) -> PathBuf {
    base.join(format!("node-{id}"))
}

/// Starts node `id` on its log directory (created, or reopened after a restart).
async fn start(base: &Path, id: u64, router: &Router) -> Result<Node, Box<dyn Error>> {
    let config = Config {
        cluster_name: "interstice-example".to_owned(),
        heartbeat_interval: 100,
        election_timeout_min: 400,
        election_timeout_max: 800,
        // The example state machine lives in memory and is rebuilt from the log on restart,
        // so the log is never purged.
        snapshot_policy: SnapshotPolicy::Never,
        ..Config::default()
    };
    let options = Options {
        segment_size: 1 << 20,
        ..Options::default()
    };
    let log_store = LogStore::<KvConfig>::open(node_dir(base, id), options)?;
    let state = KvStateMachine::default();
    let raft = Raft::new(
        id,
        Arc::new(config.validate()?),
        router.clone(),
        log_store,
        state.clone(),
    )
    .await?;
    router.nodes.lock().insert(id, raft.clone());
    Ok(Node { raft, state })
}

/// Writes `key = value` through the current leader.
async fn write(leader: &Raft, key: &str, value: &str) -> Result<(), Box<dyn Error>> {
    let request = KvRequest::Set {
        key: key.to_owned(),
        value: value.to_owned(),
    };
    leader.client_write(request).await?;
    Ok(())
}

async fn leader_of(raft: &Raft) -> Result<u64, Box<dyn Error>> {
    let metrics = raft
        .wait(Some(WAIT))
        .metrics(|m| m.current_leader.is_some(), "a leader is elected")
        .await?;
    Ok(metrics.current_leader.expect("waited for"))
}

/// Waits until every node in `nodes` has applied `index`.
async fn wait_applied(nodes: &BTreeMap<u64, Node>, index: u64) -> Result<(), Box<dyn Error>> {
    for (id, node) in nodes {
        let what = format!("node {id} applies index {index}");
        node.raft
            .wait(Some(WAIT))
            .applied_index_at_least(Some(index), what)
            .await?;
    }
    Ok(())
}

fn print_keys(nodes: &BTreeMap<u64, Node>) {
    for (id, node) in nodes {
        let data = node.state.data();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        println!("  node {id}: {} keys: {}", keys.len(), keys.join(" "));
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let base = tempfile::tempdir()?;
    let router = Router::default();
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, start(base.path(), id, &router).await?);
    }
    let members: BTreeMap<u64, BasicNode> = (1..=3)
        .map(|id| (id, BasicNode::new(format!("node-{id}"))))
        .collect();
    nodes[&1].raft.initialize(members).await?;
    let leader = leader_of(&nodes[&1].raft).await?;
    println!(
        "three nodes up in {}; node {leader} leads",
        base.path().display()
    );

    for i in 1..=10 {
        write(
            &nodes[&leader].raft,
            &format!("key-{i:02}"),
            &format!("value-{i}"),
        )
        .await?;
    }
    let last = nodes[&leader]
        .raft
        .metrics()
        .borrow()
        .last_log_index
        .unwrap_or(0);
    wait_applied(&nodes, last).await?;
    println!("10 keys written and applied everywhere (last index {last}):");
    print_keys(&nodes);

    let stopped = (1..=3).find(|id| *id != leader).expect("two followers");
    let node = nodes.remove(&stopped).expect("running");
    router.nodes.lock().remove(&stopped);
    node.raft.shutdown().await?;
    drop(node);
    println!("node {stopped} stopped");

    for i in 11..=20 {
        write(
            &nodes[&leader].raft,
            &format!("key-{i:02}"),
            &format!("value-{i}"),
        )
        .await?;
    }
    let last = nodes[&leader]
        .raft
        .metrics()
        .borrow()
        .last_log_index
        .unwrap_or(0);
    wait_applied(&nodes, last).await?;
    println!("10 more keys written with node {stopped} down:");
    print_keys(&nodes);

    nodes.insert(stopped, start(base.path(), stopped, &router).await?);
    let log_end = nodes[&stopped].raft.metrics().borrow().last_log_index;
    println!("node {stopped} restarted from its log (last index {log_end:?}); catching up");
    wait_applied(&nodes, last).await?;
    println!("every node has applied index {last}:");
    print_keys(&nodes);

    let want = nodes[&leader].state.data();
    assert_eq!(want.len(), 20);
    for (id, node) in &nodes {
        assert_eq!(node.state.data(), want, "node {id} differs from the leader");
    }
    println!("all three nodes hold the same 20 keys");

    for node in nodes.values() {
        node.raft.shutdown().await?;
    }
    Ok(())
}

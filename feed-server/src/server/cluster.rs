//! A market core and its edges in separate processes, joined by a NATS bus (CLUSTER.md):
//! `feed-server core --bus …` and `feed-server edge --bus … --listen …`.
//!
//! An edge serves clients from what it follows on the bus. When the core restarts (its heartbeat
//! names a new epoch), the edge closes its clients with 1012, joins the new core and serves
//! again on the same listener.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    COMMANDS, CoreBus, EDGE_BATCHES, Greeting, ServerError, bind_shared, make_edge, serve,
};
use crate::bus::nats::{self, BusSettings, edge_link};
use crate::config::Config;
use crate::edge::follower::Follower;
use crate::edge::{self, tls::Tls};
use crate::market::View;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// Runs a market core that feeds edges over the bus, serving clients itself too if `listener`.
pub async fn run_core(
    listener: Option<TcpListener>,
    config: Config,
    tls: Option<Tls>,
    bus: BusSettings,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let client = nats::connect(&bus, "tickwire-core")
        .await
        .map_err(|e| ServerError::Config(format!("cannot reach the bus at {}: {e}", bus.url)))?;
    let bus = CoreBus {
        client,
        settings: bus,
    };
    serve(listener, config, tls, Some(bus), shutdown).await
}

/// Binds an edge's listener: `config.listen`, shared with other processes if `reuse_port`.
pub fn listen_edge(config: &Config, reuse_port: bool) -> std::io::Result<TcpListener> {
    TcpListener::from_std(bind_shared(config.listen, config, reuse_port)?)
}

/// Runs an edge that follows the core over the bus until `shutdown`.
pub async fn run_edge(
    listener: TcpListener,
    config: Config,
    tls: Option<Tls>,
    bus: BusSettings,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let order_token = config.order_token().map_err(ServerError::Config)?;
    let client = nats::connect(&bus, "tickwire-edge")
        .await
        .map_err(|e| ServerError::Config(format!("cannot reach the bus at {}: {e}", bus.url)))?;
    let metrics = Arc::new(Metrics::new());
    let capacity = edge::Capacity::new(&config.edge(), &metrics);
    // Connection ids on the bus are this edge's own; a random id tells edges apart.
    let edge_id = rand::random::<u64>();
    let settings = config.core();
    let mut sockets = edge::sockets::Sockets::Listener(listener);
    while !shutdown.is_cancelled() {
        let mut joined = match edge_link::join(&client, &bus, &shutdown).await {
            Ok(Some(joined)) => joined,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!("cannot join the market core: {e}; trying again");
                tokio::time::sleep(nats::HEARTBEAT).await;
                continue;
            }
        };
        let Some(universe) = joined.universe.take() else {
            continue;
        };
        let universe = Arc::new(universe);
        let epoch = joined.hello.epoch.clone();
        tracing::info!(epoch, symbols = universe.len(), "following the market core");
        let mut view = View::new(
            &universe,
            epoch.clone(),
            settings.history,
            settings.max_resume_events,
            metrics.clone(),
        );
        for (symbol, state) in joined.states.iter().enumerate() {
            view.restore(symbol, state);
        }
        let generation = Arc::new(Shutdown::new(shutdown.child_token()));
        let (to_core, from_follower) = mpsc::channel(COMMANDS);
        let (to_follower, from_core) = mpsc::channel(EDGE_BATCHES);
        let (commands_tx, commands_rx) = mpsc::channel(COMMANDS);
        let follower = Follower::new(universe.clone(), view, to_core, metrics.clone(), false);
        // Which symbols' source is stale, as the core publishes it (an ingesting core).
        let (stale_tx, stale_rx) =
            tokio::sync::watch::channel(crate::bitset::BitSet::new(universe.len()));
        let greeting = Greeting {
            universe: universe.clone(),
            source: joined.hello.source.clone(),
            epoch: epoch.clone(),
            order_token: order_token.clone(),
            stale: Some(stale_rx),
        };
        let serving = make_edge(
            0,
            &config,
            &greeting,
            commands_tx,
            generation.clone(),
            metrics.clone(),
            tls.clone(),
            capacity.clone(),
        );
        let following =
            tokio::spawn(follower.run(from_core, commands_rx, generation.token().clone()));
        let link = edge_link::run(
            client.clone(),
            bus.clone(),
            edge_id,
            joined,
            &universe,
            settings.history.events_per_symbol,
            to_follower,
            from_follower,
            metrics.clone(),
            stale_tx,
            generation.token().clone(),
        );
        let accepting = edge::accept::run(&mut sockets, serving);
        tokio::pin!(link, accepting);
        let mut accepted = false;
        tokio::select! {
            ended = &mut link => match ended {
                edge_link::Ended::NewEpoch(new) => {
                    tracing::warn!(old = epoch, new, "the market core restarted; closing clients with 1012");
                    generation.restart(
                        "the market restarted; reconnect for the new session".to_owned(),
                    );
                }
                edge_link::Ended::Shutdown => generation.stop(),
                edge_link::Ended::FollowerGone => {
                    generation.fail("the edge's follower stopped".to_owned());
                }
            },
            () = &mut accepting => accepted = true,
        }
        if !accepted {
            accepting.await;
        }
        generation.stop();
        let _ = following.await;
        if let Some(why) = generation.failure() {
            return Err(ServerError::HubFailed(why.to_owned()));
        }
    }
    let _ = tokio::time::timeout(nats::FLUSH_TIMEOUT, client.flush()).await;
    Ok(())
}

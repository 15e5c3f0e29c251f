//! A real DNS server on a loopback port, answering from a table the test controls.
//!
//! Listens on UDP `127.0.0.1:PORT` and TCP on the same port (length-prefixed messages). Every
//! query is answered in its own task, so a delayed answer never holds up another query.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// TTL of every answer record.
const TTL: u32 = 60;

/// What the server answers for a name.
#[derive(Debug, Clone)]
pub enum DnsAnswer {
    /// These addresses: A queries get the IPv4 ones, AAAA queries the IPv6 ones (an empty
    /// NOERROR answer if there are none of that family).
    Addrs(Vec<IpAddr>),
    /// NXDOMAIN.
    NxDomain,
    /// SERVFAIL.
    ServFail,
    /// No answer at all (the query is still counted).
    Drop,
}

#[derive(Default)]
struct State {
    answers: Mutex<HashMap<String, DnsAnswer>>,
    delay: Mutex<Duration>,
    queries: AtomicUsize,
}

/// A DNS server on a loopback port, stopped when dropped.
pub struct DnsServer {
    /// Address to send queries to (UDP, and TCP on the same port).
    pub addr: SocketAddr,
    state: Arc<State>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Starts on `127.0.0.1:0` (UDP, and TCP on the same port) in background tokio tasks.
    pub async fn start() -> Result<DnsServer> {
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr().context("reading the DNS socket address")?;
        let state = Arc::new(State::default());
        let udp = Arc::new(udp);
        let tasks = vec![tokio::spawn(serve_udp(udp, state.clone())), tokio::spawn(serve_tcp(tcp, state.clone()))];
        Ok(DnsServer { addr, state, tasks })
    }

    /// Sets the answer for a name (case-insensitive, with or without trailing dot). Unknown
    /// names get NXDOMAIN.
    pub fn set(&self, name: &str, answer: DnsAnswer) {
        self.state.answers.lock().unwrap().insert(normalize(name), answer);
    }

    /// Sets a delay applied before every answer.
    pub fn set_delay(&self, d: Duration) {
        *self.state.delay.lock().unwrap() = d;
    }

    /// Number of queries received so far (UDP and TCP).
    pub fn queries(&self) -> usize {
        self.state.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Binds UDP on an ephemeral loopback port and TCP on the same port number.
async fn bind_pair() -> Result<(UdpSocket, TcpListener)> {
    let mut last_err = None;
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.context("binding the DNS UDP socket")?;
        let addr = udp.local_addr().context("reading the DNS UDP address")?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.expect("loop ran")).context("binding the DNS TCP listener next to the UDP socket")
}

async fn serve_udp(socket: Arc<UdpSocket>, state: Arc<State>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let query = buf[..n].to_vec();
        let (socket, state) = (socket.clone(), state.clone());
        tokio::spawn(async move {
            if let Some(reply) = answer(&state, &query).await {
                let _ = socket.send_to(&reply, peer).await;
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_conn(stream, state.clone()));
    }
}

/// Serves length-prefixed queries on one TCP connection; replies may come out of order.
async fn serve_tcp_conn(stream: TcpStream, state: Arc<State>) {
    let (mut rd, wr) = stream.into_split();
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    loop {
        let Ok(len) = rd.read_u16().await else { return };
        let mut query = vec![0u8; len as usize];
        if rd.read_exact(&mut query).await.is_err() {
            return;
        }
        let (wr, state) = (wr.clone(), state.clone());
        tokio::spawn(async move {
            if let Some(reply) = answer(&state, &query).await {
                let Ok(len) = u16::try_from(reply.len()) else {
                    return;
                };
                let mut wr = wr.lock().await;
                let _ = wr.write_all(&[&len.to_be_bytes()[..], &reply].concat()).await;
            }
        });
    }
}

/// Counts the query, waits the configured delay and builds the reply (`None`: don't answer).
async fn answer(state: &State, query: &[u8]) -> Option<Vec<u8>> {
    state.queries.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    for q in &request.queries {
        reply.add_query(q.clone());
        let entry = state.answers.lock().unwrap().get(&normalize(&q.name().to_ascii())).cloned();
        match entry {
            None | Some(DnsAnswer::NxDomain) => reply.metadata.response_code = ResponseCode::NXDomain,
            Some(DnsAnswer::ServFail) => reply.metadata.response_code = ResponseCode::ServFail,
            Some(DnsAnswer::Drop) => return None,
            Some(DnsAnswer::Addrs(addrs)) => {
                for ip in addrs {
                    let data = match (q.query_type(), ip) {
                        (RecordType::A, IpAddr::V4(v4)) => RData::A(A(v4)),
                        (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
                        _ => continue,
                    };
                    reply.add_answer(Record::from_rdata(q.name().clone(), TTL, data));
                }
            }
        }
    }
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    use super::*;

    async fn query(server: &DnsServer, name: &str, rtype: RecordType) -> Message {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let mut msg = Message::query();
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        socket.send_to(&msg.to_vec().unwrap(), server.addr).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf)).await.unwrap().unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(reply.metadata.id, msg.metadata.id);
        reply
    }

    fn addrs(reply: &Message) -> Vec<IpAddr> {
        reply
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn answers_nxdomain_and_delay() {
        let server = DnsServer::start().await.unwrap();
        server.set("Example.Test.", DnsAnswer::Addrs(vec!["10.1.2.3".parse().unwrap(), "::1".parse().unwrap()]));

        let reply = query(&server, "example.test.", RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(addrs(&reply), vec!["10.1.2.3".parse::<IpAddr>().unwrap()]);
        assert_eq!(reply.answers[0].ttl, TTL);
        let reply = query(&server, "EXAMPLE.test", RecordType::AAAA).await;
        assert_eq!(addrs(&reply), vec!["::1".parse::<IpAddr>().unwrap()]);

        let reply = query(&server, "unknown.test.", RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert!(reply.answers.is_empty());
        server.set("broken.test", DnsAnswer::ServFail);
        let reply = query(&server, "broken.test.", RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

        server.set_delay(Duration::from_millis(300));
        let started = Instant::now();
        let (a, b) = tokio::join!(query(&server, "example.test.", RecordType::A), query(&server, "example.test.", RecordType::AAAA));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300), "took {took:?}");
        assert!(took < Duration::from_millis(550), "delayed answers ran one after the other: {took:?}");
        assert_eq!(addrs(&a).len() + addrs(&b).len(), 2);
        assert_eq!(server.queries(), 6);
    }

    #[tokio::test]
    async fn answers_over_tcp() {
        let server = DnsServer::start().await.unwrap();
        server.set("tcp.test", DnsAnswer::Addrs(vec!["192.0.2.7".parse().unwrap()]));
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let mut msg = Message::query();
        msg.add_query(Query::query(Name::from_ascii("tcp.test.").unwrap(), RecordType::A));
        let bytes = msg.to_vec().unwrap();
        stream.write_all(&(bytes.len() as u16).to_be_bytes()).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0u8; len as usize];
        stream.read_exact(&mut buf).await.unwrap();
        let reply = Message::from_vec(&buf).unwrap();
        assert_eq!(addrs(&reply), vec!["192.0.2.7".parse::<IpAddr>().unwrap()]);
    }
}

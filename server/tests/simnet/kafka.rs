//! A Kafka client for the madsim tests: requests encoded and responses
//! decoded by kafka-protocol, as a Kafka client library would, over madsim's
//! simulated TCP. It speaks the versions every client negotiates (request
//! header v1, none of them flexible) and authenticates with SASL/PLAIN: the
//! client node is not on the broker's loopback, so it must.

use super::{BROKER_IP, CONNECT_ATTEMPTS_MAX, CONNECT_RETRY, PASSWORD, USER};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the broker serves Kafka.
pub const KAFKA_PORT: u16 = 9092;

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A Kafka connection to the broker node, authenticated.
pub struct KafkaClient {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl KafkaClient {
    /// Connects, retrying while the broker is unreachable, and authenticates.
    pub async fn open() -> KafkaClient {
        let address = SocketAddr::from((BROKER_IP, KAFKA_PORT));
        for _ in 0..CONNECT_ATTEMPTS_MAX {
            if let Ok(Ok(stream)) =
                madsim::time::timeout(CONNECT_RETRY * 5, TcpStream::connect(address)).await
            {
                let mut client = KafkaClient {
                    stream,
                    next_correlation_id: 1,
                };
                if client.authenticate(USER, PASSWORD).await.is_ok() {
                    return client;
                }
            }
            madsim::time::sleep(CONNECT_RETRY).await;
        }
        panic!("the broker did not accept a Kafka connection in {CONNECT_ATTEMPTS_MAX} attempts");
    }

    /// Sends one request and reads its response.
    async fn call<Q: Encodable, R: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Q,
    ) -> io::Result<R> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = correlation_id;
        header.client_id = Some(StrBytes::from_static_str("madsim"));
        let mut frame = vec![0; 4];
        header
            .encode(&mut frame, api.request_header_version(version))
            .and_then(|()| request.encode(&mut frame, version))
            .map_err(|error| invalid(format!("{api:?} does not encode: {error}")))?;
        let size = i32::try_from(frame.len() - 4).expect("a small request");
        frame[..4].copy_from_slice(&size.to_be_bytes());
        // madsim's socket sends what is written only once flushed.
        self.stream.write_all(&frame).await?;
        self.stream.flush().await?;
        let mut size = [0; 4];
        self.stream.read_exact(&mut size).await?;
        let size = usize::try_from(i32::from_be_bytes(size))
            .map_err(|_| invalid("a negative response size".to_owned()))?;
        let mut response = vec![0; size];
        self.stream.read_exact(&mut response).await?;
        let mut response = Bytes::from(response);
        let header = ResponseHeader::decode(&mut response, api.response_header_version(version))
            .map_err(|error| invalid(format!("{api:?}'s header: {error}")))?;
        if header.correlation_id != correlation_id {
            return Err(invalid(format!(
                "correlation id {} answered {correlation_id}",
                header.correlation_id
            )));
        }
        R::decode(&mut response, version).map_err(|error| invalid(format!("{api:?}: {error}")))
    }

    /// SASL/PLAIN: SaslHandshake v1, then SaslAuthenticate v0.
    pub async fn authenticate(&mut self, user: &str, password: &str) -> io::Result<()> {
        let mut handshake = SaslHandshakeRequest::default();
        handshake.mechanism = StrBytes::from_static_str("PLAIN");
        let response: SaslHandshakeResponse =
            self.call(ApiKey::SaslHandshake, 1, &handshake).await?;
        if response.error_code != 0 {
            return Err(invalid(format!("SaslHandshake: {}", response.error_code)));
        }
        let mut authenticate = SaslAuthenticateRequest::default();
        authenticate.auth_bytes = Bytes::from(format!("\0{user}\0{password}"));
        let response: SaslAuthenticateResponse = self
            .call(ApiKey::SaslAuthenticate, 0, &authenticate)
            .await?;
        match response.error_code {
            0 => Ok(()),
            code => Err(invalid(format!("SaslAuthenticate: {code}"))),
        }
    }

    /// Metadata v1 naming `topic`, which creates it: its partition count.
    pub async fn create_topic(&mut self, topic: &str) -> io::Result<usize> {
        let mut wanted = MetadataRequestTopic::default();
        wanted.name = Some(TopicName(StrBytes::from_string(topic.to_owned())));
        let mut request = MetadataRequest::default();
        request.topics = Some(vec![wanted]);
        let response: MetadataResponse = self.call(ApiKey::Metadata, 1, &request).await?;
        let listed = response
            .topics
            .first()
            .ok_or_else(|| invalid("no topic listed".to_owned()))?;
        match listed.error_code {
            0 => Ok(listed.partitions.len()),
            code => Err(invalid(format!("Metadata: {code}"))),
        }
    }

    /// Produce v3 of one batch of `values` to partition 0 with `acks`: the
    /// batch's base offset.
    pub async fn produce(&mut self, topic: &str, values: &[String], acks: i16) -> io::Result<i64> {
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(delta, value)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i64::try_from(delta).expect("a small batch"),
                sequence: -1,
                timestamp: 0,
                key: None,
                value: Some(Bytes::from(value.clone())),
                headers: Vec::new(),
            })
            .collect();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        let mut batch = BytesMut::new();
        RecordBatchEncoder::encode(&mut batch, &records, &options)
            .map_err(|error| invalid(format!("the batch does not encode: {error}")))?;
        let mut partition = PartitionProduceData::default();
        partition.index = 0;
        partition.records = Some(batch.freeze());
        let mut data = TopicProduceData::default();
        data.name = TopicName(StrBytes::from_string(topic.to_owned()));
        data.partition_data = vec![partition];
        let mut request = ProduceRequest::default();
        request.acks = acks;
        request.timeout_ms = 30_000;
        request.topic_data = vec![data];
        let response: ProduceResponse = self.call(ApiKey::Produce, 3, &request).await?;
        let answered = response
            .responses
            .first()
            .and_then(|topic| topic.partition_responses.first())
            .ok_or_else(|| invalid("no partition answered".to_owned()))?;
        match answered.error_code {
            0 => Ok(answered.base_offset),
            code => Err(invalid(format!("Produce: {code}"))),
        }
    }

    /// Fetch v4 of partition 0 from `offset`: the values of the records it
    /// returns, waiting up to a second for any.
    pub async fn fetch(&mut self, topic: &str, offset: i64) -> io::Result<Vec<String>> {
        let mut partition = FetchPartition::default();
        partition.partition = 0;
        partition.fetch_offset = offset;
        partition.partition_max_bytes = 1 << 20;
        let mut wanted = FetchTopic::default();
        wanted.topic = TopicName(StrBytes::from_string(topic.to_owned()));
        wanted.partitions = vec![partition];
        let mut request = FetchRequest::default();
        request.replica_id = (-1).into();
        request.max_wait_ms = 1000;
        request.min_bytes = 1;
        request.max_bytes = 1 << 20;
        request.topics = vec![wanted];
        let response: FetchResponse = self.call(ApiKey::Fetch, 4, &request).await?;
        let fetched = response
            .responses
            .first()
            .and_then(|topic| topic.partitions.first())
            .ok_or_else(|| invalid("no partition fetched".to_owned()))?;
        if fetched.error_code != 0 {
            return Err(invalid(format!("Fetch: {}", fetched.error_code)));
        }
        let Some(mut records) = fetched.records.clone() else {
            return Ok(Vec::new());
        };
        let sets = RecordBatchDecoder::decode_all(&mut records)
            .map_err(|error| invalid(format!("the batches do not decode: {error}")))?;
        Ok(sets
            .into_iter()
            .flat_map(|set| set.records)
            .filter(|record| record.offset >= offset)
            .map(|record| {
                let value = record.value.unwrap_or_default();
                String::from_utf8_lossy(&value).into_owned()
            })
            .collect())
    }
}

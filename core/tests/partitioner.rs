//! Kafka's partitioners (SEMANTICS.md section 8): murmur2 for keyed
//! records, the uniform sticky partitioner (KIP-794) for keyless ones.

use brokerlab_core::stream::partitioner::{
    murmur2, partition_for_key, to_positive, StickyPartitioner,
};

/// Kafka's `UtilsTest.testMurmur2` vectors, and the ones Akka checks
/// against Kafka's `Utils.murmur2`.
const KAFKA_VECTORS: [(&str, i32); 11] = [
    ("21", -973_932_308),
    ("foobar", -790_332_482),
    ("a-little-bit-long-string", -985_981_536),
    ("a-little-bit-longer-string", -1_486_304_829),
    (
        "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
        -58_897_971,
    ),
    ("abc", 479_470_107),
    ("1", -1_993_445_489),
    ("12", 126_087_238),
    ("123", -267_702_483),
    ("1234", -1_614_185_708),
    ("12345", -1_188_365_604),
];

#[test]
fn murmur2_matches_kafkas_test_vectors() {
    for (key, expected) in KAFKA_VECTORS {
        assert_eq!(murmur2(key.as_bytes()), expected, "{key}");
    }
}

#[test]
fn a_keyed_record_goes_to_its_positive_murmur2_modulo_the_partition_count() {
    for (key, hash) in KAFKA_VECTORS {
        for partitions in [1, 3, 7, 100] {
            let expected = (hash & 0x7fff_ffff) as u32 % partitions;
            assert_eq!(partition_for_key(key.as_bytes(), partitions), expected);
        }
    }
    assert_eq!(
        to_positive(i32::MIN),
        0,
        "the sign bit is cleared, not negated"
    );
    assert_eq!(to_positive(-1), 0x7fff_ffff);
}

#[test]
fn the_sticky_partitioner_sticks_until_batch_size_then_switches_by_the_draw() {
    let mut sticky = StickyPartitioner::new(100);
    assert_eq!(
        sticky.partition(4, 6),
        2,
        "the first choice is the draw modulo the count"
    );
    sticky.produced(60, true);
    assert_eq!(sticky.partition(4, 1), 2, "sticks: the draw is not used");
    sticky.produced(40, true);
    assert_eq!(sticky.current(), None, "batch.size reached: switch");
    assert_eq!(sticky.partition(4, 7), 3);
}

#[test]
fn the_sticky_partitioner_switches_at_twice_batch_size_when_the_batch_is_not_ready() {
    let mut sticky = StickyPartitioner::new(100);
    assert_eq!(sticky.partition(3, 0), 0);
    sticky.produced(150, false);
    assert_eq!(sticky.partition(3, 2), 0, "not ready and below 2x: stays");
    sticky.produced(50, false);
    assert_eq!(
        sticky.partition(3, 2),
        2,
        "at twice batch.size it switches anyway"
    );
}

#[test]
fn the_sticky_partitioner_draws_again_when_the_topic_has_fewer_partitions() {
    let mut sticky = StickyPartitioner::new(100);
    assert_eq!(sticky.partition(10, 9), 9);
    assert_eq!(sticky.partition(5, 13), 3);
}

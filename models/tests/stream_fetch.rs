//! The `stream-fetch` model: a reader that takes one record per poll lands
//! inside batches of two, and the real core still hands it every record at
//! its position, in order (with a pinned state count).

use brokerlab_models::check::{check, report, Options};
use brokerlab_models::StreamFetch;

#[test]
fn a_reader_inside_a_batch_takes_every_record_at_its_position_in_order_with_pinned_state_count() {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(StreamFetch::default().into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
    assert!(outcome.verdict("read-mid-batch").holds);
    assert_eq!(outcome.unique_states, 122);
}

#[test]
fn batches_of_three_read_two_records_per_poll_hold_every_property() {
    // Positions 2 and 4 fall inside a batch, 2 at its end and 4 in its middle.
    let config = StreamFetch {
        records: 3,
        max_poll_records: 2,
        ..StreamFetch::default()
    };
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let outcome = check(config.into_model(), &options);
    println!("{}", report(&outcome, &options));
    assert!(outcome.all_hold());
}

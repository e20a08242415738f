//! The facade's walkthrough runs end to end and tells the story it promises.

#[test]
fn work_queue_walkthrough_redelivers_the_dead_workers_task() {
    let mut out = Vec::new();
    brokerlab::walkthrough::work_queue(&mut out).expect("writing to a Vec cannot fail");
    let text = String::from_utf8(out).expect("the walkthrough writes UTF-8");
    assert!(text.contains("message 2 requeued to 'task_queue'"), "{text}");
    assert!(text.contains("tag 3, redelivered=true, body \"resize image 2\""), "{text}");
    for message in 1..=3 {
        assert!(text.contains(&format!("message {message} acknowledged")), "{text}");
    }
}

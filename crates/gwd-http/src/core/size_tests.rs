//! The size of the request future, guarded.

/// The request future is boxed once per request and moved into its
/// box: keep it small (rare, large steps such as connecting are boxed
/// on their own).
#[test]
fn the_request_future_stays_small() {
    fn size_of_future<F: Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }
    let cx = crate::state::test_conn(crate::state::test_proxy());
    let req = super::InRequest {
        head: gwd_head::RequestHead {
            method: gwd_head::Method::GET,
            uri: "/".parse().unwrap(),
            version: gwd_head::Version::HTTP_11,
            fields: gwd_head::Fields::new(),
        },
        body: None,
        codings: None,
        upgrade: false,
        must_switch: false,
        interim: Some(super::interim::InterimRoute::Key(0)),
        received: None,
    };
    eprintln!(
        "Txn {} InRequest {} LogRecord {} Begun {}",
        std::mem::size_of::<super::Txn>(),
        std::mem::size_of::<super::InRequest>(),
        std::mem::size_of::<crate::access_log::LogRecord>(),
        std::mem::size_of::<super::Begun>()
    );
    let fut = super::handle(cx, req);
    let size = size_of_future(&fut);
    eprintln!("request future: {size} bytes");
    // 4,824 bytes when this test was written (each async step keeps
    // its arguments and its callee's state); 5,256 once the server
    // step held a balancer slot and a hash key across the forward,
    // 5,504 with `retry-on`'s state in the retry loop, 5,720 once a
    // request carried where its interim answers go (the box stays in
    // mimalloc's 6 KiB class), 5,856 once that could also be a tunnel
    // origin's stream handle (a tagged pointer and id where a key was),
    // 5,896 once the log record counted the server queue and
    // `option redispatch` became an interval, 5,928 once a request in
    // the queue knew since when (a visitor leaving there is logged `CQ`),
    // 6,024 once a request carried when its head began to arrive and the
    // idle time before it (`TR` and `Ti`). A guard against growth
    // (mimalloc's class is 6 KiB: 6,144 bytes).
    assert!(size <= 6024, "request future grew to {size} bytes");
}

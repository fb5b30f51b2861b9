//! Putting large futures on the heap without copying them.
//!
//! `Box::pin(f())` builds the future on the stack and then copies all of
//! it into the box: for a request's future (the log record and every
//! step's locals, about 5.5 KB) that copy, and the stack pages it
//! touches, showed in profiles (4-5 % of an HTTP/2 visitor's CPU in
//! `memcpy`). Allocating first and building the future in place lets
//! the compiler write it straight into the box; only its arguments are
//! copied.

use std::pin::Pin;

/// `Box::pin(make())`, with the value built in the box rather than moved
/// into it.
#[inline(always)]
pub(crate) fn pin_in_place<F>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    let slot = Box::<F>::new_uninit();
    Box::into_pin(Box::write(slot, make()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boxed_value_is_the_one_built() {
        let b = pin_in_place(|| [7u8; 6000]);
        assert!(b.iter().all(|&x| x == 7));
        let f = pin_in_place(|| async { 41 + 1 });
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = f;
        assert_eq!(f.as_mut().poll(&mut cx), std::task::Poll::Ready(42));
    }
}

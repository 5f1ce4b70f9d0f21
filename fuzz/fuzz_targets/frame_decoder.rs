//! Bytes from a client socket through the frame codec, each frame decoded as a request and the
//! first one as a ConnectRequest. The body is `zkr_actors::proto::fuzz::frame_decoder`; the
//! first input byte picks the frame limit and the read chunk size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zkr_actors::proto::fuzz::frame_decoder(data);
});

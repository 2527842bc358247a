//! Any `$batch` reply body ends in its parts or a located refusal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| {
    let _ =
        dynamics_client::__fuzzing::batch_reply("multipart/mixed; boundary=batchresponse_1", body);
});

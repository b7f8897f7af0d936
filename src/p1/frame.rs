//! Cuts a byte stream (a serial port, a ser2net socket) into telegrams: from a `/` to
//! the line break after the `!` end line. Whatever lies between
//! telegrams (line noise, a telegram joined halfway) is counted and dropped; a
//! telegram cut off by the next one's `/` is handed on as cut, never as a telegram.

use super::telegram::MAX_TELEGRAM;

/// What came out of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The bytes of one telegram, `/` to the end line's `\n`, not yet checked.
    Telegram(Vec<u8>),
    /// A telegram's start without its end (the next one began, or it grew too long):
    /// this many bytes dropped.
    Cut(usize),
    /// Bytes outside any telegram, dropped.
    Garbage(usize),
}

/// Bytes in, frames out.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next frame the bytes so far hold, or `None` until more come.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let Some(start) = self.start_at(0) else {
            // No telegram begins here: keep nothing (a `/` arriving next starts one).
            let n = self.buf.len();
            self.buf.clear();
            return (n > 0).then_some(Frame::Garbage(n));
        };
        if start > 0 {
            self.buf.drain(..start);
            return Some(Frame::Garbage(start));
        }
        // A new telegram's start inside this one: this one was cut.
        let bang = self.buf.iter().position(|b| *b == b'!');
        let next = self.start_at(1);
        if let Some(n) = next
            && bang.is_none_or(|b| n < b)
        {
            self.buf.drain(..n);
            return Some(Frame::Cut(n));
        }
        let Some(bang) = bang else {
            if self.buf.len() > MAX_TELEGRAM {
                let n = self.buf.len();
                self.buf.clear();
                return Some(Frame::Cut(n));
            }
            return None;
        };
        // The end line: `!`, up to four hex digits, then the line break.
        match self.buf[bang..].iter().position(|b| *b == b'\n') {
            Some(nl) => {
                let end = bang + nl + 1;
                Some(Frame::Telegram(self.buf.drain(..end).collect()))
            }
            None if self.buf.len() - bang > 8 => {
                // Not an end line after all: drop through the `!`.
                self.buf.drain(..=bang);
                Some(Frame::Cut(bang + 1))
            }
            None => None,
        }
    }

    /// Where a telegram starts at or after `from`: a `/` (nothing else in a telegram
    /// is one: the header has `\\`, values are digits and hex).
    fn start_at(&self, from: usize) -> Option<usize> {
        (from..self.buf.len()).find(|&i| self.buf[i] == b'/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: &[u8] = b"/ISk5\\2MT382-1000\r\n\r\n1-0:1.8.1(000004.426*kWh)\r\n!\r\n";

    fn all(f: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn telegrams_come_out_whole_and_noise_is_counted() {
        let mut f = Framer::default();
        f.push(b"noise");
        f.push(T);
        f.push(&T[..20]);
        assert_eq!(
            all(&mut f),
            vec![Frame::Garbage(5), Frame::Telegram(T.to_vec())]
        );
        // The rest of the second telegram never comes: the third begins.
        f.push(T);
        assert_eq!(
            all(&mut f),
            vec![Frame::Cut(20), Frame::Telegram(T.to_vec())]
        );
    }

    #[test]
    fn a_telegram_split_anywhere_is_joined() {
        for cut in 1..T.len() {
            let mut f = Framer::default();
            f.push(&T[..cut]);
            let first = all(&mut f);
            f.push(&T[cut..]);
            let mut got = first;
            got.extend(all(&mut f));
            assert_eq!(got, vec![Frame::Telegram(T.to_vec())], "cut at {cut}");
        }
    }

    proptest! {
        /// Any bytes in any pieces: no panic, nothing kept beyond a telegram's size,
        /// and a telegram sent after the noise comes out whole.
        #[test]
        fn no_bytes_break_the_framer(noise in proptest::collection::vec(any::<u8>(), 0..3000),
                                     pieces in proptest::collection::vec(1usize..200, 1..40)) {
            let mut f = Framer::default();
            let mut stream = noise.clone();
            stream.extend_from_slice(b"\r\n");
            stream.extend_from_slice(T);
            let mut at = 0;
            let mut frames = Vec::new();
            for p in pieces.iter().cycle() {
                if at >= stream.len() { break; }
                let end = (at + p).min(stream.len());
                f.push(&stream[at..end]);
                at = end;
                frames.extend(all(&mut f));
                prop_assert!(f.buf.len() <= MAX_TELEGRAM + 200);
            }
            prop_assert_eq!(frames.last(), Some(&Frame::Telegram(T.to_vec())));
        }
    }
}

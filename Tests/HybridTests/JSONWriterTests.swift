import Hybrid
import TestSupport
import Testing

@Suite struct JSONWriterTests {
    @Test func escapesAndSortsKeys() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("text")
        writer.string("a \"quoted\"\\ line\nwith\ttab and \u{01}")
        writer.key("attrs")
        writer.value(.object(["b": .int(2), "a": .array([.bool(true), .null, .double(1.5)])]))
        writer.endObject()
        let text = String(decoding: writer.bytes, as: UTF8.self)
        #expect(text == #"{"text":"a \"quoted\"\\ line\nwith\ttab and \u0001","attrs":{"a":[true,null,1.5],"b":2}}"#)
    }
}

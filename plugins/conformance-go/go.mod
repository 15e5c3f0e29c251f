module httptrace.example/conformance-go

go 1.27

domain = "staging.mindhit.example.com"

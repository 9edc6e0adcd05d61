domain = "dev.mindhit.example.com"

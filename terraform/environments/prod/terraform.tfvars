domain = "mindhit.example.com"

domain = "mindhit.example.com"
# the hosted zone of the domain above (Route 53 console or `aws route53 list-hosted-zones`)
route53_zone_id = "Z0EXAMPLE0MINDHIT0ZONE"
